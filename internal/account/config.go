package account

import (
	"errors"
	"flag"
	"time"
)

// Config of the account component.
type Config struct {
	// TokenTTL is how long a session token stays valid.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// BcryptCost is the password hashing cost (4..31); 10 is a second-fraction on one core.
	BcryptCost int `yaml:"bcrypt_cost"`
	// MinPassword is the shortest accepted password, in characters.
	MinPassword int `yaml:"min_password"`
	// ExpWindow is how long experience events are folded before one write per user
	// (0 = 1s). Longer windows mean fewer writes and /api/me catching up later.
	ExpWindow time.Duration `yaml:"exp_window"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.TokenTTL, prefix+"token_ttl", 7*24*time.Hour, "lifetime of a session token.")
	fs.IntVar(&c.BcryptCost, prefix+"bcrypt_cost", 10, "bcrypt cost of password hashes (4..31).")
	fs.IntVar(&c.MinPassword, prefix+"min_password", 6, "minimum password length in characters.")
	fs.DurationVar(&c.ExpWindow, prefix+"exp_window", time.Second, "window over which experience events are folded into one write per user (0 = 1s).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.TokenTTL < time.Minute {
		return errors.New("account.token_ttl must be at least 1m")
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		return errors.New("account.bcrypt_cost must be in 4..31")
	}
	if c.MinPassword < 1 || c.MinPassword > 72 {
		return errors.New("account.min_password must be in 1..72")
	}
	if c.ExpWindow < 0 || c.ExpWindow > time.Minute {
		return errors.New("account.exp_window must be in 0..1m")
	}
	return nil
}
