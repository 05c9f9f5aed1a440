package bff

import (
	"errors"
	"flag"
	"time"
)

// Config of the page BFF.
type Config struct {
	// ModuleTimeout bounds each module of a page (danmaku connection info, comments, gifts,
	// wallet, rank, viewer); a module that has not answered by then is sent as
	// {"degraded": true} and the rest of the page is returned.
	ModuleTimeout time.Duration `yaml:"module_timeout"`
	// RoomTimeout bounds the room read a page starts with; past it the page answers 503.
	RoomTimeout time.Duration `yaml:"room_timeout"`
	// Comments is how many recent comments the room page carries (1..1000; danmaku's
	// history_size caps it too).
	Comments int `yaml:"comments"`
	// RankSize is how many senders of the gift rank the room page carries (1..1000; gift's
	// rank_size caps it too).
	RankSize int `yaml:"rank_size"`
	// HomeSize is the default number of rooms on a home page (1..1000; room's max_list_limit
	// caps it and ?limit= overrides it).
	HomeSize int `yaml:"home_size"`
}

// RegisterFlags binds the config to flags under prefix, with the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.ModuleTimeout, prefix+"module_timeout", 300*time.Millisecond, "time each module of a page (comments, gifts, rank, …) has to answer before it is sent as degraded.")
	fs.DurationVar(&c.RoomTimeout, prefix+"room_timeout", time.Second, "time the room read of a page has before the page answers 503.")
	fs.IntVar(&c.Comments, prefix+"comments", 50, "recent comments on the room page, 1..1000 (danmaku.history_size caps it too).")
	fs.IntVar(&c.RankSize, prefix+"rank_size", 10, "gift rank entries on the room page, 1..1000 (gift.rank_size caps it too).")
	fs.IntVar(&c.HomeSize, prefix+"home_size", 24, "rooms on a home page when ?limit= is not given, 1..1000 (room.max_list_limit caps it).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.ModuleTimeout <= 0 || c.RoomTimeout <= 0 {
		errs = append(errs, errors.New("bff.module_timeout and bff.room_timeout must be positive"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"bff.comments", c.Comments}, {"bff.rank_size", c.RankSize}, {"bff.home_size", c.HomeSize}} {
		if f.v < 1 || f.v > 1000 {
			errs = append(errs, errors.New(f.name+" must be in 1..1000"))
		}
	}
	return errors.Join(errs...)
}
