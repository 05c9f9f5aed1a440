package account

import (
	"errors"
	"flag"
	"fmt"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"time"
)

// MaxBcryptCost caps bcrypt_cost: each step doubles the work, and cost 14 already takes about a
// second of one core per hash (31 would take days and hang start-up, which hashes once).
const MaxBcryptCost = 14

// Config of the account component.
type Config struct {
	// Store is where this component keeps its tables; its fields override the shared store
	// section (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// TokenTTL is how long a session token stays valid.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// BcryptCost is the password hashing cost (4..MaxBcryptCost); 10 is a second-fraction on one core.
	BcryptCost int `yaml:"bcrypt_cost"`
	// BcryptConcurrency is how many password hashes or checks run at once in this process
	// (0 = half the CPUs, at least 1), so a flood of logins cannot take every core.
	BcryptConcurrency int `yaml:"bcrypt_concurrency"`
	// BcryptWait is how long password work waits for a free slot before it is answered 503
	// (0 = not at all).
	BcryptWait time.Duration `yaml:"bcrypt_wait"`
	// MinPassword is the shortest accepted password, in characters.
	MinPassword int `yaml:"min_password"`
	// ExpWindow is how long experience events are folded before one write per user
	// (0 = 1s). Longer windows mean fewer writes and /api/me catching up later.
	ExpWindow time.Duration `yaml:"exp_window"`
	// RevocationTTL bounds how stale this process's view of logouts made through other
	// processes may be; logouts made here take effect here at once (0 = read the store on
	// every token check).
	RevocationTTL time.Duration `yaml:"revocation_ttl"`
	// RevocationTTLWatched replaces RevocationTTL while this process watches the revocation
	// broadcast (with a queue): logouts elsewhere arrive as they happen, and the TTL only
	// bounds one whose broadcast was lost. A process with account in another process keeps
	// the tokens it verified this long while it watches (Remote.WatchRevocations).
	RevocationTTLWatched time.Duration `yaml:"revocation_ttl_watched"`
	// Limits are the per-IP and per-account limits of register and login.
	Limits LimitsConfig `yaml:"limits"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.DurationVar(&c.TokenTTL, prefix+"token_ttl", 7*24*time.Hour, "lifetime of a session token.")
	fs.IntVar(&c.BcryptCost, prefix+"bcrypt_cost", 10, fmt.Sprintf("bcrypt cost of password hashes (4..%d).", MaxBcryptCost))
	fs.IntVar(&c.BcryptConcurrency, prefix+"bcrypt_concurrency", 0, "password hashes or checks running at once in this process (0 = half the CPUs, at least 1).")
	fs.DurationVar(&c.BcryptWait, prefix+"bcrypt_wait", 2*time.Second, "how long password work waits for a free slot before it is answered 503 (0 = not at all).")
	fs.IntVar(&c.MinPassword, prefix+"min_password", 6, "minimum password length in characters.")
	fs.DurationVar(&c.ExpWindow, prefix+"exp_window", time.Second, "window over which experience events are folded into one write per user (0 = 1s).")
	fs.DurationVar(&c.RevocationTTL, prefix+"revocation_ttl", 10*time.Second, "how long a logout made through another process may go unseen here; logouts made here apply at once (0 = read the store on every token check).")
	fs.DurationVar(&c.RevocationTTLWatched, prefix+"revocation_ttl_watched", 5*time.Minute, "revocation_ttl while this process watches the logouts broadcast on the queue (seen at once): how long one whose broadcast was lost may go unseen (0 = read the store on every token check). A process with account elsewhere keeps a verified token this long while it watches (never past the token's expiry; 0 = peers.cache_ttl).")
	c.Limits.RegisterFlags(fs, prefix+"limits.")
}

// LiveKeys are the settings (below the account. prefix) that Reload changes in a running
// service: the rate limits of password work. Any other needs a restart.
func LiveKeys() []string {
	return []string{"limits.login_ip_rate", "limits.login_ip_burst", "limits.account_rate", "limits.account_burst",
		"limits.register_per_ip_hour"}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.TokenTTL < time.Minute {
		return errors.New("account.token_ttl must be at least 1m")
	}
	if c.BcryptCost < 4 || c.BcryptCost > MaxBcryptCost {
		return fmt.Errorf("account.bcrypt_cost must be in 4..%d (each step doubles the work; %d is about a second per hash), got %d",
			MaxBcryptCost, MaxBcryptCost, c.BcryptCost)
	}
	if c.BcryptConcurrency < 0 || c.BcryptConcurrency > 1024 {
		return errors.New("account.bcrypt_concurrency must be in 0..1024")
	}
	if c.BcryptWait < 0 || c.BcryptWait > time.Minute {
		return errors.New("account.bcrypt_wait must be in 0..1m")
	}
	if c.MinPassword < 1 || c.MinPassword > 72 {
		return errors.New("account.min_password must be in 1..72")
	}
	if c.ExpWindow < 0 || c.ExpWindow > time.Minute {
		return errors.New("account.exp_window must be in 0..1m")
	}
	if c.RevocationTTL < 0 || c.RevocationTTL > time.Hour {
		return errors.New("account.revocation_ttl must be in 0..1h")
	}
	if c.RevocationTTLWatched < 0 || c.RevocationTTLWatched > time.Hour {
		return errors.New("account.revocation_ttl_watched must be in 0..1h")
	}
	return c.Limits.Validate()
}
