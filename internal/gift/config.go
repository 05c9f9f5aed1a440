package gift

import (
	"errors"
	"flag"
	"fmt"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"time"
)

// Limits of the configuration, chosen so that price × num always fits an int64 with room to spare.
const (
	maxPrice    = 1_000_000_000
	maxMaxNum   = 1_000_000
	maxRankSize = 1000
	maxNameLen  = 64 // characters; the column is VARCHAR(64)
	// MaxBalance is the most a wallet can hold; a credit that would pass it is refused whole.
	MaxBalance = int64(1_000_000_000_000_000)
)

// DemoInitialBalance is the initial balance `zhibo up` gives every wallet unless told
// otherwise, so that the demo can send gifts at once.
const DemoInitialBalance = 1000

// Config is the gift component's configuration.
type Config struct {
	// Store is where this component keeps its tables; its fields override the shared store
	// section (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// InitialBalance is what a wallet holds when it is first read or debited (0 = wallets start
	// empty, the default: coins then come only from a credit — an admin top-up or a payment).
	// Accounts cost nothing to make, so any other value hands out free coins per account;
	// `zhibo up` (the demo) defaults it to DemoInitialBalance. Wallets are created lazily, so
	// registering an account writes nothing here.
	InitialBalance int64 `yaml:"initial_balance"`
	// MaxTopup is the largest amount of one credit (an admin top-up or a payment).
	MaxTopup int64 `yaml:"max_topup"`
	// Catalog lists the gifts that can be sent, in display order.
	Catalog []Gift `yaml:"catalog"`
	// MaxNum is the largest num of one send.
	MaxNum int64 `yaml:"max_num"`
	// RankSize is how many senders a room's rank shows (and the largest ?limit= accepted).
	RankSize int `yaml:"rank_size"`
	// AggregateWindow is how long score increments are folded before one write.
	AggregateWindow time.Duration `yaml:"aggregate_window"`
	// RelayInterval is how often the outbox relay looks for orders whose event was not published.
	RelayInterval time.Duration `yaml:"relay_interval"`
	// HotCacheTTL bounds how stale a hot room's rank served from memory may be (scores already
	// lag orders by one aggregation window).
	HotCacheTTL time.Duration `yaml:"hot_cache_ttl"`
	// HotKeys is the detector of hot rank reads.
	HotKeys hotkey.Config `yaml:"hotkeys"`
	// HotThreshold is the online count from which a room's rank is kept in memory (within
	// hot_cache_ttl) whatever its reads, as is a pinned room's; 0 = pinned rooms only. Ranks
	// read often enough are kept anyway (hotkeys).
	HotThreshold int64 `yaml:"hot_threshold"`
}

// RegisterFlags sets the defaults and binds every field to a flag named prefix+yaml_name.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	c.Catalog = DefaultCatalog()
	fs.Int64Var(&c.InitialBalance, prefix+"initial_balance", 0,
		"coins a wallet holds when first used (0 = wallets start empty; any other value gives free coins to every new account; zhibo up defaults it to 1000 for the demo).")
	fs.Int64Var(&c.MaxTopup, prefix+"max_topup", 1_000_000, "largest amount of one wallet credit (admin top-up or payment).")
	fs.Var(&catalogFlag{&c.Catalog}, prefix+"catalog",
		`gift catalog as a JSON list of {"id","name","price","coin_type":"gold"|"silver"}.`)
	fs.Int64Var(&c.MaxNum, prefix+"max_num", 9999, "largest num of one gift send.")
	fs.IntVar(&c.RankSize, prefix+"rank_size", 20, "senders shown in a room's rank and the largest ?limit= accepted.")
	fs.DurationVar(&c.AggregateWindow, prefix+"aggregate_window", time.Second,
		"window over which score increments are folded into one write.")
	fs.DurationVar(&c.HotCacheTTL, prefix+"hot_cache_ttl", time.Second, "staleness bound of hot rank reads served from memory.")
	fs.Int64Var(&c.HotThreshold, prefix+"hot_threshold", 5000, "online count from which a room's rank is kept in memory (pinned rooms always are; 0 = pinned rooms only).")
	c.HotKeys.RegisterFlags(fs, prefix+"hotkeys.")
	fs.DurationVar(&c.RelayInterval, prefix+"relay_interval", time.Second,
		"how often the outbox relay republishes order events whose publish did not complete.")
}

// LiveKeys are the settings (below the gift. prefix) that Reload changes in a running
// service; any other needs a restart.
func LiveKeys() []string { return []string{"catalog", "max_num", "max_topup"} }

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.InitialBalance < 0 || c.InitialBalance > MaxBalance {
		errs = append(errs, fmt.Errorf("gift.initial_balance %d: want 0..%d", c.InitialBalance, MaxBalance))
	}
	if c.MaxTopup < 1 || c.MaxTopup > MaxBalance {
		errs = append(errs, fmt.Errorf("gift.max_topup %d: want 1..%d", c.MaxTopup, MaxBalance))
	}
	if c.MaxNum < 1 || c.MaxNum > maxMaxNum {
		errs = append(errs, fmt.Errorf("gift.max_num %d: want 1..%d", c.MaxNum, maxMaxNum))
	}
	if c.RankSize < 1 || c.RankSize > maxRankSize {
		errs = append(errs, fmt.Errorf("gift.rank_size %d: want 1..%d", c.RankSize, maxRankSize))
	}
	if c.AggregateWindow < 10*time.Millisecond || c.AggregateWindow > time.Minute {
		errs = append(errs, fmt.Errorf("gift.aggregate_window %s: want 10ms..1m", c.AggregateWindow))
	}
	if c.HotCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("gift.hot_cache_ttl must not be negative"))
	}
	if c.HotThreshold < 0 {
		errs = append(errs, fmt.Errorf("gift.hot_threshold must not be negative"))
	}
	if err := c.HotKeys.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gift.hotkeys: %w", err))
	}
	if c.RelayInterval < 10*time.Millisecond || c.RelayInterval > time.Hour {
		errs = append(errs, fmt.Errorf("gift.relay_interval %s: want 10ms..1h", c.RelayInterval))
	}
	if err := validateCatalog(c.Catalog); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
