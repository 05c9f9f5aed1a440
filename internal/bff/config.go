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
	// IMModuleTimeout bounds each module of the inbox (GET /api/im/inbox: conversations,
	// unread total, groups, notices) the same way.
	IMModuleTimeout time.Duration `yaml:"im_module_timeout"`
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
	// HotThreshold is the online count from which this BFF keeps a room's page in process
	// memory (a room pinned hot through the admin API or room.hot_rooms is kept whatever its
	// count). 0 = only pinned rooms.
	HotThreshold int64 `yaml:"hot_threshold"`
	// HotRefresh is how often the pages kept in memory are read again from their components,
	// and so how stale a hot room's room record, comments, gift catalog and rank may be after
	// a write taken in another process (writes taken by components in this process show at
	// once); a room that turned hot is loaded within it, a pinned one as soon as this process
	// sees the pin.
	HotRefresh time.Duration `yaml:"hot_refresh"`
	// HotMaxRooms bounds the pages kept in memory: the most watched hot rooms, pinned first
	// (0 = none: every enter reads its components).
	HotMaxRooms int `yaml:"hot_max_rooms"`
}

// RegisterFlags binds the config to flags under prefix, with the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.ModuleTimeout, prefix+"module_timeout", 300*time.Millisecond, "time each module of a page (comments, gifts, rank, …) has to answer before it is sent as degraded.")
	fs.DurationVar(&c.IMModuleTimeout, prefix+"im_module_timeout", 500*time.Millisecond, "time each module of the inbox (conversations, unread total, groups, notices) has to answer before it is sent as degraded.")
	fs.DurationVar(&c.RoomTimeout, prefix+"room_timeout", time.Second, "time the room read of a page has before the page answers 503.")
	fs.IntVar(&c.Comments, prefix+"comments", 50, "recent comments on the room page, 1..1000 (danmaku.history_size caps it too).")
	fs.IntVar(&c.RankSize, prefix+"rank_size", 10, "gift rank entries on the room page, 1..1000 (gift.rank_size caps it too).")
	fs.IntVar(&c.HomeSize, prefix+"home_size", 24, "rooms on a home page when ?limit= is not given, 1..1000 (room.max_list_limit caps it).")
	fs.Int64Var(&c.HotThreshold, prefix+"hot_threshold", 5000, "online count from which a room's page is kept in memory (pinned rooms always are; 0 = pinned rooms only).")
	fs.DurationVar(&c.HotRefresh, prefix+"hot_refresh", time.Second, "how often hot rooms' pages kept in memory are read again: their staleness bound.")
	fs.IntVar(&c.HotMaxRooms, prefix+"hot_max_rooms", 200, "most hot room pages kept in memory, 0..100000 (0 = none).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.ModuleTimeout <= 0 || c.IMModuleTimeout <= 0 || c.RoomTimeout <= 0 {
		errs = append(errs, errors.New("bff.module_timeout, bff.im_module_timeout and bff.room_timeout must be positive"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"bff.comments", c.Comments}, {"bff.rank_size", c.RankSize}, {"bff.home_size", c.HomeSize}} {
		if f.v < 1 || f.v > 1000 {
			errs = append(errs, errors.New(f.name+" must be in 1..1000"))
		}
	}
	if c.HotThreshold < 0 {
		errs = append(errs, errors.New("bff.hot_threshold must not be negative"))
	}
	if c.HotRefresh < 100*time.Millisecond {
		errs = append(errs, errors.New("bff.hot_refresh must be at least 100ms"))
	}
	if c.HotMaxRooms < 0 || c.HotMaxRooms > 100_000 {
		errs = append(errs, errors.New("bff.hot_max_rooms must be in 0..100000"))
	}
	return errors.Join(errs...)
}
