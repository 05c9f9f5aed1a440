package room

import (
	"errors"
	"flag"
	"time"
)

// Config of the room component.
type Config struct {
	// MaxRoomsPerUser is how many rooms one user may own.
	MaxRoomsPerUser int `yaml:"max_rooms_per_user"`
	// PopularityInterval is how often the list order is refreshed from online counts
	// (0 = never: the list then sorts by live status and id only).
	PopularityInterval time.Duration `yaml:"popularity_interval"`
	// MaxListLimit caps ?limit= of the room list.
	MaxListLimit int `yaml:"max_list_limit"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.MaxRoomsPerUser, prefix+"max_rooms_per_user", 1, "rooms one user may own.")
	fs.DurationVar(&c.PopularityInterval, prefix+"popularity_interval", 2*time.Second, "refresh of the list order from online counts (0 = never).")
	fs.IntVar(&c.MaxListLimit, prefix+"max_list_limit", 50, "largest page of the room list.")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.MaxRoomsPerUser < 1 {
		return errors.New("room.max_rooms_per_user must be at least 1")
	}
	if c.PopularityInterval < 0 {
		return errors.New("room.popularity_interval must not be negative")
	}
	if c.MaxListLimit < 1 || c.MaxListLimit > 1000 {
		return errors.New("room.max_list_limit must be in 1..1000")
	}
	return nil
}
