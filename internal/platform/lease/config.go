package lease

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config times the leases of a process; every process of a cluster should use the same values.
type Config struct {
	// TTL is how long a hold lasts without a renewal: a holder that has not renewed for TTL
	// stops acting, and another node takes the lease over once it has seen the key unchanged
	// for TTL. A dead holder's work therefore pauses for at most TTL + Renew.
	TTL time.Duration `yaml:"ttl"`
	// Renew is how often a holder renews and how often the other nodes look at the key; a
	// released lease is taken by another node within one Renew.
	Renew time.Duration `yaml:"renew"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.TTL, prefix+"ttl", 6*time.Second, "how long a once-per-cluster task's lease lasts unrenewed; a dead holder is replaced within ttl + renew.")
	fs.DurationVar(&c.Renew, prefix+"renew", 2*time.Second, "how often a lease holder renews and the other nodes check the lease; at most ttl/2.")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Renew < 10*time.Millisecond {
		return errors.New("lease.renew must be at least 10ms")
	}
	if c.TTL < 2*c.Renew || c.TTL > 10*time.Minute {
		return fmt.Errorf("lease.ttl %s: want 2 × lease.renew (%s) .. 10m, so one failed renewal does not lose the lease", c.TTL, 2*c.Renew)
	}
	return nil
}
