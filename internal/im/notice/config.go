package notice

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// Config tunes notices and batch sends.
type Config struct {
	// Store is where this component keeps its tables (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// NormalRate is the quota of the normal lane: recipients per second each business may
	// reach (the high lane has none).
	NormalRate int `yaml:"normal_rate"`
	// Chunk is how many recipients are delivered in one transaction and one push (100..10000).
	Chunk int `yaml:"chunk"`
	// Mentions turns on mention notices: a bullet comment with @name gives that user one.
	Mentions bool `yaml:"mentions"`
	// MaxMentions is how many distinct names of one comment get a notice (1..20); the
	// names after them are skipped.
	MaxMentions int `yaml:"max_mentions"`
	// Likes turns on like notices: the likes of a live room, folded into one notice for its
	// anchor per room and LikeWindow.
	Likes bool `yaml:"likes"`
	// Follows turns on follow notices: a new follow gives the followed user one.
	Follows bool `yaml:"follows"`
	// Replies turns on reply notices: a bullet comment that replies to someone else's comment
	// gives that user one.
	Replies bool `yaml:"replies"`
	// LikeWindow is how long one like notice gathers a room's likes (1m..24h, dividing a
	// day): the first like after it opens a new notice, unread.
	LikeWindow time.Duration `yaml:"like_window"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.IntVar(&c.NormalRate, prefix+"normal_rate", 50000, "recipients per second each business's batch sends reach on the normal lane (the high lane has no quota), at least 100.")
	fs.IntVar(&c.Chunk, prefix+"chunk", 1000, "recipients delivered in one transaction and one push, 100..10000.")
	fs.BoolVar(&c.Mentions, prefix+"mentions", true, "give a user a mention notice when a bullet comment writes @their_name (consumes the MENTIONS stream danmaku publishes them on).")
	fs.IntVar(&c.MaxMentions, prefix+"max_mentions", 5, "distinct @names of one comment that get a mention notice, 1..20; later ones are skipped.")
	fs.BoolVar(&c.Likes, prefix+"likes", true, "give a room's anchor like notices, one per room and like_window (consumes the LIKES stream; needs room).")
	fs.BoolVar(&c.Follows, prefix+"follows", true, "give a user a follow notice when someone follows them (consumes the FOLLOWS stream account publishes new follows on).")
	fs.BoolVar(&c.Replies, prefix+"replies", true, "give a user a reply notice when a bullet comment replies to theirs (consumes the MENTIONS stream danmaku publishes replies on).")
	fs.DurationVar(&c.LikeWindow, prefix+"like_window", time.Hour, "how long one like notice gathers a room's likes before the next like opens a new unread one, 1m..24h, dividing a day.")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("im_notice", flag.ContinueOnError), "")
	return c
}

// Validate checks every field and names the offending one.
func (c *Config) Validate() error {
	var errs []error
	if c.NormalRate < 100 {
		errs = append(errs, fmt.Errorf("im_notice.normal_rate %d: want at least 100", c.NormalRate))
	}
	if c.Chunk < 100 || c.Chunk > 10000 {
		errs = append(errs, fmt.Errorf("im_notice.chunk %d: want 100..10000", c.Chunk))
	}
	if c.MaxMentions < 1 || c.MaxMentions > 20 {
		errs = append(errs, fmt.Errorf("im_notice.max_mentions %d: want 1..20", c.MaxMentions))
	}
	if c.LikeWindow < time.Minute || c.LikeWindow > 24*time.Hour || (24*time.Hour)%c.LikeWindow != 0 {
		errs = append(errs, fmt.Errorf("im_notice.like_window %s: want 1m..24h, dividing a day", c.LikeWindow))
	}
	return errors.Join(errs...)
}
