package danmaku

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

// Limits of the configuration: the store's text column holds maxRunesLimit characters and a
// history request never reads more than maxHistoryLimit rows.
const (
	maxRunesLimit   = 500
	maxHistoryLimit = 1000
)

// Config tunes what a comment may be and how fast a user may send them.
type Config struct {
	// Store is where this component keeps its tables; its fields override the shared store
	// section (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// MaxRunes is the longest comment in Unicode code points after trimming (1..500).
	MaxRunes int `yaml:"max_runes"`
	// Rate is how many comments per second one user may send, on average; 0 means no
	// per-user limit.
	Rate float64 `yaml:"rate"`
	// Burst is how many comments a user may send at once before Rate applies (>= 1 when
	// Rate is set).
	Burst int `yaml:"burst"`
	// HistorySize is how many recent comments a room's history returns (1..1000).
	HistorySize int `yaml:"history_size"`
	// PushTimeout bounds the push of an accepted comment to the room; 0 means 3s.
	PushTimeout time.Duration `yaml:"push_timeout"`
	// RelayInterval is how often the outbox relay pushes comments whose push failed (0 = never).
	RelayInterval time.Duration `yaml:"relay_interval"`
	// MuteCacheTTL is how long a hot room's muted users are kept in memory between reads of
	// the store; 0 reads the store for every comment.
	MuteCacheTTL time.Duration `yaml:"mute_cache_ttl"`
	// HotKeys is the detector of rooms whose mute checks are hot (those are cached).
	HotKeys hotkey.Config `yaml:"hotkeys"`
	// HotThreshold is the online count from which this component keeps a room's recent
	// comments in memory (a room pinned hot is kept whatever its count); 0 = pinned rooms only.
	HotThreshold int64 `yaml:"hot_threshold"`
	// HotHistoryTTL is how long a hot room's recent comments kept in memory are served before
	// the store is read again. A comment accepted by this process is added to them at once;
	// one accepted by another danmaku process shows within it. 0 = never kept.
	HotHistoryTTL time.Duration `yaml:"hot_history_ttl"`
	// ReplyWindow is how old a comment may be and still be replied to (reply_to); an older
	// one is refused as too old. 0 = any age.
	ReplyWindow time.Duration `yaml:"reply_window"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.IntVar(&c.MaxRunes, prefix+"max_runes", 100, "longest comment in characters (Unicode code points) after trimming, 1..500.")
	fs.Float64Var(&c.Rate, prefix+"rate", 1, "comments per second one user may send on average (0 = no per-user limit).")
	fs.IntVar(&c.Burst, prefix+"burst", 3, "comments a user may send at once before the rate applies (>= 1 when rate is set).")
	fs.IntVar(&c.HistorySize, prefix+"history_size", 50, "recent comments returned by a room's history, 1..1000.")
	fs.DurationVar(&c.PushTimeout, prefix+"push_timeout", 3*time.Second, "time allowed to push an accepted comment to its room (0 = 3s).")
	fs.DurationVar(&c.RelayInterval, prefix+"relay_interval", time.Second, "how often comments whose push failed (queue down) are pushed again (0 = never).")
	fs.DurationVar(&c.MuteCacheTTL, prefix+"mute_cache_ttl", time.Second, "how long a hot room's muted users are served from memory; a mute or unmute through another danmaku process is seen within it (0 = read the store for every comment).")
	c.HotKeys.RegisterFlags(fs, prefix+"hotkeys.")
	fs.Int64Var(&c.HotThreshold, prefix+"hot_threshold", 5000, "online count from which a room's recent comments are kept in memory (pinned rooms always are; 0 = pinned rooms only).")
	fs.DurationVar(&c.HotHistoryTTL, prefix+"hot_history_ttl", time.Second, "how long a hot room's recent comments are served from memory before the store is read again; comments sent through another danmaku process show within it (0 = never kept).")
	fs.DurationVar(&c.ReplyWindow, prefix+"reply_window", 24*time.Hour, "how old a comment may be and still be replied to; an older one is refused (0 = any age).")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("danmaku", flag.ContinueOnError), "")
	return c
}

// LiveKeys are the settings (below the danmaku. prefix) that Reload changes in a running
// service; any other needs a restart.
func LiveKeys() []string { return []string{"rate", "burst"} }

// Validate checks every field and names the offending one.
func (c *Config) Validate() error {
	var errs []error
	if c.HotThreshold < 0 || c.HotHistoryTTL < 0 {
		errs = append(errs, errors.New("danmaku.hot_threshold and danmaku.hot_history_ttl must not be negative"))
	}
	if c.MaxRunes < 1 || c.MaxRunes > maxRunesLimit {
		errs = append(errs, fmt.Errorf("danmaku.max_runes %d: want 1..%d", c.MaxRunes, maxRunesLimit))
	}
	if c.Rate < 0 || c.Rate != c.Rate { // NaN compares unequal to itself
		errs = append(errs, fmt.Errorf("danmaku.rate %v: want >= 0", c.Rate))
	}
	if c.Rate > 0 && c.Burst < 1 {
		errs = append(errs, fmt.Errorf("danmaku.burst %d: want >= 1 when danmaku.rate is set", c.Burst))
	}
	if c.HistorySize < 1 || c.HistorySize > maxHistoryLimit {
		errs = append(errs, fmt.Errorf("danmaku.history_size %d: want 1..%d", c.HistorySize, maxHistoryLimit))
	}
	if c.PushTimeout < 0 {
		errs = append(errs, fmt.Errorf("danmaku.push_timeout %s: want >= 0", c.PushTimeout))
	}
	if c.ReplyWindow < 0 {
		errs = append(errs, fmt.Errorf("danmaku.reply_window %s: want >= 0", c.ReplyWindow))
	}
	if c.MuteCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("danmaku.mute_cache_ttl %s: want >= 0", c.MuteCacheTTL))
	}
	if err := c.HotKeys.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("danmaku.hotkeys: %w", err))
	}
	return errors.Join(errs...)
}
