package group

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// Config tunes group chat.
type Config struct {
	// Store is where this component keeps its tables (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// MaxMembers is the most members a group may have, its owner included (2..100000).
	MaxMembers int `yaml:"max_members"`
	// MaxRunes is the longest message in Unicode code points after trimming (1..5000).
	MaxRunes int `yaml:"max_runes"`
	// Rate is how many group messages per second one user may send on average (0 = no limit).
	Rate float64 `yaml:"rate"`
	// Burst is how many a user may send at once before Rate applies (>= 1 when Rate is set).
	Burst int `yaml:"burst"`
	// RecallWindow is how long after sending its sender may recall a message (0 = never).
	RecallWindow time.Duration `yaml:"recall_window"`
	// Dedupe is how long the queue remembers a client message id (1s..24h).
	Dedupe time.Duration `yaml:"dedupe"`
	// QueueBytes caps the queue of accepted messages; when full, sends are refused (503).
	QueueBytes int64 `yaml:"queue_bytes"`
	// BatchSize is the most messages the store writer applies in one transaction (1..1000).
	BatchSize int `yaml:"batch_size"`
	// HotMessages is how many of a group's newest messages the hot tier keeps when Redis is
	// configured (redis.addr); older history pages read the store (0 = no hot tier for
	// groups, else 10..100000). Off by default: its consumer costs every group message a
	// queue delivery and two Redis calls (docs/im.md, "Groups").
	HotMessages int `yaml:"hot_messages"`
	// HotTTL is how long a group's hot-tier list, and its messages' content, stay in Redis
	// after its last message (at least 1m).
	HotTTL time.Duration `yaml:"hot_ttl"`
	// PartitionAhead is how many months after the current one have their partition of
	// im_group_messages made in advance on MySQL (1..120; the daily
	// maintainer may run up to a day after a month begins, so the next month must exist
	// already). SQLite is not partitioned.
	PartitionAhead int `yaml:"partition_ahead"`
	// PartitionRetention, on MySQL, drops the months of im_group_messages whose every message
	// is older than it, whole; client-id records stay (0 = keep every message; otherwise at
	// least 720h, as a month is the unit dropped). Needs a MySQL store.
	PartitionRetention time.Duration `yaml:"partition_retention"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.IntVar(&c.MaxMembers, prefix+"max_members", 500, "most members of a group, its owner included, 2..100000.")
	fs.IntVar(&c.MaxRunes, prefix+"max_runes", 1000, "longest group message in characters (Unicode code points) after trimming, 1..5000.")
	fs.Float64Var(&c.Rate, prefix+"rate", 5, "group messages per second one user may send on average (0 = no per-user limit).")
	fs.IntVar(&c.Burst, prefix+"burst", 20, "group messages a user may send at once before the rate applies (>= 1 when rate is set).")
	fs.DurationVar(&c.RecallWindow, prefix+"recall_window", 2*time.Minute, "how long after sending a group message its sender may recall it (0 = never).")
	fs.DurationVar(&c.Dedupe, prefix+"dedupe", 10*time.Minute, "how long the queue remembers a client message id, 1s..24h.")
	fs.Int64Var(&c.QueueBytes, prefix+"queue_bytes", 1<<30, "bytes of accepted group messages the queue holds for the store writer; when full, sends are refused with 503 (at least 1 MiB).")
	fs.IntVar(&c.BatchSize, prefix+"batch_size", 256, "most group messages the store writer applies in one transaction, 1..1000.")
	fs.IntVar(&c.HotMessages, prefix+"hot_messages", 0, "newest messages per group the hot tier keeps in Redis when redis.addr is set: history pages within them are read from there, older ones from the store (0 = no hot tier for groups; else 10..100000, e.g. 600 for busy fan groups).")
	fs.DurationVar(&c.HotTTL, prefix+"hot_ttl", 24*time.Hour, "how long a group's hot-tier list and its messages' content stay in Redis after its last message, at least 1m.")
	fs.IntVar(&c.PartitionAhead, prefix+"partition_ahead", 3, "months after the current one whose partition of im_group_messages is made in advance on MySQL, 1..120 (SQLite is not partitioned).")
	fs.DurationVar(&c.PartitionRetention, prefix+"partition_retention", 0, "on MySQL, drop the months of im_group_messages whose every message is older than this, whole (0 = keep every message; else at least 720h; needs a MySQL store).")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("im_group", flag.ContinueOnError), "")
	return c
}

// LiveKeys are the settings (below the im_group. prefix) that Reload changes in a running service.
func LiveKeys() []string { return []string{"rate", "burst"} }

// Validate checks every field and names the offending one.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxMembers < 2 || c.MaxMembers > 100000 {
		errs = append(errs, fmt.Errorf("im_group.max_members %d: want 2..100000", c.MaxMembers))
	}
	if c.HotMessages != 0 && (c.HotMessages < 10 || c.HotMessages > 100000) {
		errs = append(errs, fmt.Errorf("im_group.hot_messages %d: want 0 (off) or 10..100000", c.HotMessages))
	}
	if c.HotTTL < time.Minute {
		errs = append(errs, fmt.Errorf("im_group.hot_ttl %s: want at least 1m", c.HotTTL))
	}
	if c.MaxRunes < 1 || c.MaxRunes > 5000 {
		errs = append(errs, fmt.Errorf("im_group.max_runes %d: want 1..5000", c.MaxRunes))
	}
	if c.Rate < 0 || c.Rate != c.Rate {
		errs = append(errs, fmt.Errorf("im_group.rate %v: want >= 0", c.Rate))
	}
	if c.Rate > 0 && c.Burst < 1 {
		errs = append(errs, fmt.Errorf("im_group.burst %d: want >= 1 when im_group.rate is set", c.Burst))
	}
	if c.RecallWindow < 0 {
		errs = append(errs, fmt.Errorf("im_group.recall_window %s: want >= 0", c.RecallWindow))
	}
	if c.Dedupe < time.Second || c.Dedupe > 24*time.Hour {
		errs = append(errs, fmt.Errorf("im_group.dedupe %s: want 1s..24h", c.Dedupe))
	}
	if c.QueueBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("im_group.queue_bytes %d: want at least 1 MiB", c.QueueBytes))
	}
	if c.BatchSize < 1 || c.BatchSize > 1000 {
		errs = append(errs, fmt.Errorf("im_group.batch_size %d: want 1..1000", c.BatchSize))
	}
	if c.PartitionAhead < 1 || c.PartitionAhead > sqlstore.MaxAhead {
		errs = append(errs, fmt.Errorf("im_group.partition_ahead %d: want 1..%d months", c.PartitionAhead, sqlstore.MaxAhead))
	}
	if c.PartitionRetention != 0 && c.PartitionRetention < sqlstore.MinRetention {
		errs = append(errs, fmt.Errorf("im_group.partition_retention %s: want 0 (keep every message) or at least %s", c.PartitionRetention, sqlstore.MinRetention))
	}
	return errors.Join(errs...)
}
