package chat

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/flagx"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/presence"
)

// Limits of the configuration: the longest message a store row is meant for, and the largest
// page any read returns.
const (
	maxRunesLimit = 5000
	maxPageLimit  = 500
)

// Config tunes single chat.
type Config struct {
	// Store is where this component keeps its tables; its fields override the shared store
	// section (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// MaxRunes is the longest message in Unicode code points after trimming (1..5000).
	MaxRunes int `yaml:"max_runes"`
	// Rate is how many messages per second one user may send on average (0 = no limit).
	Rate float64 `yaml:"rate"`
	// Burst is how many messages a user may send at once before Rate applies (>= 1 when Rate is set).
	Burst int `yaml:"burst"`
	// SpamReceivers is how many different users one sender's same text may reach within
	// SpamWindow; more are refused (429, spam.go). 0 = no check.
	SpamReceivers int `yaml:"spam_receivers"`
	// SpamWindow is the window of SpamReceivers, from a text's first send (1m..24h).
	SpamWindow time.Duration `yaml:"spam_window"`
	// RecallWindow is how long after sending a message its sender may recall it (0 = never).
	RecallWindow time.Duration `yaml:"recall_window"`
	// Dedupe is how long the queue remembers a client message id: a send replayed within it
	// returns the first one's message even before it is stored (after it, the store answers).
	Dedupe time.Duration `yaml:"dedupe"`
	// Retention is how long an accepted message waits in the queue for the store; the store
	// writer must catch up within it (a day covers any outage the alerts would not flag).
	Retention time.Duration `yaml:"retention"`
	// QueueBytes caps the queue of accepted messages not yet known stored; a full queue
	// refuses new sends (503) rather than dropping accepted ones.
	QueueBytes int64 `yaml:"queue_bytes"`
	// BatchSize is the most messages the store writer applies in one transaction (1..1000).
	BatchSize int `yaml:"batch_size"`
	// HotConversations is how many of a user's newest conversations the hot tier keeps when
	// Redis is configured (redis.addr); deeper pages of the list read the store (10..100000).
	HotConversations int `yaml:"hot_conversations"`
	// HotTimeline is how many of a user's newest timeline entries the hot tier keeps, for
	// histories and syncs that fall within them; older ones read the store (10..100000).
	HotTimeline int `yaml:"hot_timeline"`
	// HotTTL is how long a user's hot-tier entries, and messages' content, stay in Redis after
	// their last change (at least 1m).
	HotTTL time.Duration `yaml:"hot_ttl"`
	// WarmThreshold: a user with at least this many conversations is put in the hot tier when
	// a message for them is stored, before they open their inbox (0 = only when they read it).
	WarmThreshold int `yaml:"warm_threshold"`
	// Bots are the assistant bots: users whose messages a webhook answers (bots.go).
	Bots []Bot `yaml:"bots"`
	// BotTimeout bounds a webhook call (and the reply's send).
	BotTimeout time.Duration `yaml:"bot_timeout"`
	// Services are the customer-service accounts and their agents (service.go).
	Services []ServiceAccount `yaml:"services"`
	// AgentStale is how long a comet's list of the agents connected to it counts: a user
	// writing in is assigned the least loaded of the agents connected (presence.go), and of
	// all of them when none is. 0 = by load alone.
	AgentStale time.Duration `yaml:"agent_stale"`
	// PartitionAhead is how many months after the current one have their partition of
	// im_messages made in advance on MySQL (1..120; the daily
	// maintainer may run up to a day after a month begins, so the next month must exist
	// already). SQLite is not partitioned.
	PartitionAhead int `yaml:"partition_ahead"`
	// PartitionRetention, on MySQL, drops the months of im_messages whose every message is
	// older than it, whole; timeline entries and client-id records stay (0 = keep every
	// message; otherwise at least 720h, as a month is the unit dropped). Needs a MySQL store.
	PartitionRetention time.Duration `yaml:"partition_retention"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.IntVar(&c.MaxRunes, prefix+"max_runes", 1000, "longest private message in characters (Unicode code points) after trimming, 1..5000.")
	fs.Float64Var(&c.Rate, prefix+"rate", 5, "private messages per second one user may send on average (0 = no per-user limit).")
	fs.IntVar(&c.Burst, prefix+"burst", 20, "private messages a user may send at once before the rate applies (>= 1 when rate is set).")
	fs.IntVar(&c.SpamReceivers, prefix+"spam_receivers", 10, "different users one sender's same text may reach within spam_window; more are refused as spam (0 = no check).")
	fs.DurationVar(&c.SpamWindow, prefix+"spam_window", 10*time.Minute, "the window of spam_receivers, from a text's first send (1m..24h).")
	fs.DurationVar(&c.RecallWindow, prefix+"recall_window", 2*time.Minute, "how long after sending a private message its sender may recall it (0 = never).")
	fs.DurationVar(&c.Dedupe, prefix+"dedupe", 10*time.Minute, "how long the queue remembers a client message id (a replay within it is the same message before it is stored), 1s..24h.")
	fs.DurationVar(&c.Retention, prefix+"retention", 24*time.Hour, "how long an accepted message waits in the queue for the store writer, at least 1m.")
	fs.Int64Var(&c.QueueBytes, prefix+"queue_bytes", 1<<30, "bytes of accepted messages the queue holds for the store writer; when full, sends are refused with 503 (at least 1 MiB).")
	fs.IntVar(&c.BatchSize, prefix+"batch_size", 256, "most messages the store writer applies in one transaction, 1..1000.")
	fs.IntVar(&c.HotConversations, prefix+"hot_conversations", 600, "newest conversations per user the hot tier keeps in Redis when redis.addr is set (deeper list pages read the store), 10..100000.")
	fs.IntVar(&c.HotTimeline, prefix+"hot_timeline", 600, "newest timeline entries per user the hot tier keeps in Redis when redis.addr is set: chat histories and syncs within them are read from there, older ones from the store, 10..100000.")
	fs.DurationVar(&c.HotTTL, prefix+"hot_ttl", 24*time.Hour, "how long a user's hot-tier entries and messages' content stay in Redis after their last change, at least 1m.")
	flagx.JSONList(fs, prefix+"bots", `assistant bots as a JSON list of {"uid","url","secret"}: messages to the user uid are POSTed to url signed with secret (HMAC-SHA256, X-Zhibo-Signature) and the answer's "reply" is sent back (empty = none; a list in YAML).`, &c.Bots)
	flagx.JSONList(fs, prefix+"services", `customer-service accounts as a JSON list of {"uid","agents":[uids]}: a user writing to uid is assigned the least loaded agent, who gets the conversation live and answers as uid (empty = none; a list in YAML).`, &c.Services)
	fs.DurationVar(&c.AgentStale, prefix+"agent_stale", 10*time.Second, "a user writing to a customer-service account is assigned the least loaded of its agents connected now (any of them when none is), as the comets reported within this bound (several comet.report_interval); 0 = the least loaded of all, connected or not.")
	fs.DurationVar(&c.BotTimeout, prefix+"bot_timeout", 5*time.Second, "time limit of a bot webhook call, 100ms..1m.")
	fs.IntVar(&c.PartitionAhead, prefix+"partition_ahead", 3, "months after the current one whose partition of im_messages is made in advance on MySQL, 1..120 (SQLite is not partitioned).")
	fs.DurationVar(&c.PartitionRetention, prefix+"partition_retention", 0, "on MySQL, drop the months of im_messages whose every message is older than this, whole (0 = keep every message; else at least 720h; needs a MySQL store).")
	fs.IntVar(&c.WarmThreshold, prefix+"warm_threshold", 1000, "conversations from which a user is put in the hot tier when a message for them is stored, before they open their inbox (0 = only when they read it).")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("im_chat", flag.ContinueOnError), "")
	return c
}

// LiveKeys are the settings (below the im_chat. prefix) that Reload changes in a running
// service; any other needs a restart.
func LiveKeys() []string { return []string{"rate", "burst"} }

// Validate checks every field and names the offending one.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxRunes < 1 || c.MaxRunes > maxRunesLimit {
		errs = append(errs, fmt.Errorf("im_chat.max_runes %d: want 1..%d", c.MaxRunes, maxRunesLimit))
	}
	if c.Rate < 0 || c.Rate != c.Rate {
		errs = append(errs, fmt.Errorf("im_chat.rate %v: want >= 0", c.Rate))
	}
	if c.Rate > 0 && c.Burst < 1 {
		errs = append(errs, fmt.Errorf("im_chat.burst %d: want >= 1 when im_chat.rate is set", c.Burst))
	}
	if c.SpamReceivers < 0 {
		errs = append(errs, fmt.Errorf("im_chat.spam_receivers %d: want >= 0", c.SpamReceivers))
	}
	if c.SpamWindow < time.Minute || c.SpamWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("im_chat.spam_window %s: want 1m..24h", c.SpamWindow))
	}
	if c.RecallWindow < 0 {
		errs = append(errs, fmt.Errorf("im_chat.recall_window %s: want >= 0", c.RecallWindow))
	}
	if c.Dedupe < time.Second || c.Dedupe > 24*time.Hour {
		errs = append(errs, fmt.Errorf("im_chat.dedupe %s: want 1s..24h", c.Dedupe))
	}
	if c.Retention < time.Minute {
		errs = append(errs, fmt.Errorf("im_chat.retention %s: want at least 1m", c.Retention))
	}
	if c.QueueBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("im_chat.queue_bytes %d: want at least 1 MiB", c.QueueBytes))
	}
	if c.HotConversations < 10 || c.HotConversations > 100000 {
		errs = append(errs, fmt.Errorf("im_chat.hot_conversations %d: want 10..100000", c.HotConversations))
	}
	if c.HotTimeline < 10 || c.HotTimeline > 100000 {
		errs = append(errs, fmt.Errorf("im_chat.hot_timeline %d: want 10..100000", c.HotTimeline))
	}
	if c.HotTTL < time.Minute {
		errs = append(errs, fmt.Errorf("im_chat.hot_ttl %s: want at least 1m", c.HotTTL))
	}
	if c.WarmThreshold < 0 {
		errs = append(errs, fmt.Errorf("im_chat.warm_threshold %d: want >= 0", c.WarmThreshold))
	}
	if err := validateBots(c.Bots); err != nil {
		errs = append(errs, err)
	}
	if err := validateServices(c.Services, c.Bots); err != nil {
		errs = append(errs, err)
	}
	if c.AgentStale < 0 || c.AgentStale > presence.TTL {
		errs = append(errs, fmt.Errorf("im_chat.agent_stale %s: want 0..%s", c.AgentStale, presence.TTL))
	}
	if c.BotTimeout < 100*time.Millisecond || c.BotTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("im_chat.bot_timeout %s: want 100ms..1m", c.BotTimeout))
	}
	if c.BatchSize < 1 || c.BatchSize > 1000 {
		errs = append(errs, fmt.Errorf("im_chat.batch_size %d: want 1..1000", c.BatchSize))
	}
	if c.PartitionAhead < 1 || c.PartitionAhead > sqlstore.MaxAhead {
		errs = append(errs, fmt.Errorf("im_chat.partition_ahead %d: want 1..%d months", c.PartitionAhead, sqlstore.MaxAhead))
	}
	if c.PartitionRetention != 0 && c.PartitionRetention < sqlstore.MinRetention {
		errs = append(errs, fmt.Errorf("im_chat.partition_retention %s: want 0 (keep every message) or at least %s", c.PartitionRetention, sqlstore.MinRetention))
	}
	return errors.Join(errs...)
}
