package account

import (
	"errors"
	"flag"
	"time"
)

// LimitsConfig bounds password work per client and per account. All of it is state of one
// process: with several account replicas behind a balancer each keeps its own buckets and
// failure counts, so the limits per replica multiply by the number of replicas.
type LimitsConfig struct {
	// LoginIPRate is the login (and password change) attempts per second per client IP (0 = no limit).
	LoginIPRate float64 `yaml:"login_ip_rate"`
	// LoginIPBurst is how many attempts one IP may make at once before LoginIPRate applies.
	LoginIPBurst int `yaml:"login_ip_burst"`
	// AccountRate is the login, registration and password change attempts per second on one
	// account name (its look-alike skeleton), from any IP (0 = no limit).
	AccountRate float64 `yaml:"account_rate"`
	// AccountBurst is how many attempts one name may see at once before AccountRate applies.
	AccountBurst int `yaml:"account_burst"`
	// RegisterPerIPHour is the registrations one client IP may attempt per hour (0 = no limit).
	RegisterPerIPHour int `yaml:"register_per_ip_hour"`
	// FreeFailures is the failed logins on one account before each further attempt must wait
	// (0 = never wait).
	FreeFailures int `yaml:"free_failures"`
	// FreeFailuresIP is the same from one client IP over any names (0 = never wait).
	FreeFailuresIP int `yaml:"free_failures_ip"`
	// Backoff is the first wait after the free failures; each further failure doubles it.
	Backoff time.Duration `yaml:"backoff"`
	// LockoutFailures is the failed logins on one account that lock it for Lockout (0 = never).
	LockoutFailures int `yaml:"lockout_failures"`
	// LockoutFailuresIP is the same for one client IP (0 = never).
	LockoutFailuresIP int `yaml:"lockout_failures_ip"`
	// Lockout is how long a locked account or IP is refused; every failure after it locks again.
	Lockout time.Duration `yaml:"lockout"`
	// FailureMemory is how long failures are remembered after the last one (0 = 24h); a
	// success forgets the account's failures at once.
	FailureMemory time.Duration `yaml:"failure_memory"`
	// MaxTracked bounds the accounts and the IPs whose failures are remembered (each); past it
	// the entries with the fewest failures are forgotten first (0 = 100 000).
	MaxTracked int `yaml:"max_tracked"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *LimitsConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.Float64Var(&c.LoginIPRate, prefix+"login_ip_rate", 1, "login and password-change attempts per second per client IP (0 = no limit).")
	fs.IntVar(&c.LoginIPBurst, prefix+"login_ip_burst", 10, "login attempts one client IP may make at once before the rate applies.")
	fs.Float64Var(&c.AccountRate, prefix+"account_rate", 0.2, "login, register and password-change attempts per second on one account name, from any IP (0 = no limit).")
	fs.IntVar(&c.AccountBurst, prefix+"account_burst", 10, "attempts one account name may see at once before the rate applies.")
	fs.IntVar(&c.RegisterPerIPHour, prefix+"register_per_ip_hour", 10, "registrations one client IP may attempt per hour (0 = no limit).")
	fs.IntVar(&c.FreeFailures, prefix+"free_failures", 5, "failed logins on one account before each further attempt must wait (0 = never wait).")
	fs.IntVar(&c.FreeFailuresIP, prefix+"free_failures_ip", 20, "failed logins from one client IP before each further attempt must wait (0 = never wait).")
	fs.DurationVar(&c.Backoff, prefix+"backoff", time.Second, "first wait after the free failures, doubled by each further failure.")
	fs.IntVar(&c.LockoutFailures, prefix+"lockout_failures", 10, "failed logins that lock an account for the lockout time (0 = never lock).")
	fs.IntVar(&c.LockoutFailuresIP, prefix+"lockout_failures_ip", 50, "failed logins that lock a client IP for the lockout time (0 = never lock).")
	fs.DurationVar(&c.Lockout, prefix+"lockout", 15*time.Minute, "how long a locked account or IP is refused.")
	fs.DurationVar(&c.FailureMemory, prefix+"failure_memory", 24*time.Hour, "how long failed logins are remembered after the last one (0 = 24h).")
	fs.IntVar(&c.MaxTracked, prefix+"max_tracked", 100_000, "accounts, and client IPs, whose failures one process remembers; fewest failures forgotten first (0 = 100000).")
}

// Validate checks the limits.
func (c *LimitsConfig) Validate() error {
	switch {
	case c.LoginIPRate < 0 || c.AccountRate < 0 || c.RegisterPerIPHour < 0:
		return errors.New("account.limits rates must be >= 0")
	case c.LoginIPRate > 0 && c.LoginIPBurst < 1, c.AccountRate > 0 && c.AccountBurst < 1:
		return errors.New("account.limits bursts must be >= 1 when limiting")
	case c.FreeFailures < 0 || c.FreeFailuresIP < 0 || c.LockoutFailures < 0 || c.LockoutFailuresIP < 0:
		return errors.New("account.limits failure counts must be >= 0")
	case c.LockoutFailures > 0 && c.LockoutFailures <= c.FreeFailures,
		c.LockoutFailuresIP > 0 && c.LockoutFailuresIP <= c.FreeFailuresIP:
		return errors.New("account.limits.lockout_failures(_ip) must exceed free_failures(_ip)")
	case (c.FreeFailures > 0 || c.FreeFailuresIP > 0) && c.Backoff <= 0:
		return errors.New("account.limits.backoff must be > 0 when free_failures is set")
	case (c.LockoutFailures > 0 || c.LockoutFailuresIP > 0) && c.Lockout <= 0:
		return errors.New("account.limits.lockout must be > 0 when lockout_failures is set")
	case c.Lockout > 24*time.Hour || c.Backoff > time.Hour:
		return errors.New("account.limits.lockout must be at most 24h and backoff at most 1h")
	case c.FailureMemory != 0 && (c.FailureMemory < c.Lockout || c.FailureMemory < time.Minute):
		return errors.New("account.limits.failure_memory must be at least 1m and at least the lockout")
	case c.MaxTracked != 0 && c.MaxTracked < 100:
		return errors.New("account.limits.max_tracked must be at least 100")
	}
	return nil
}

func (c *LimitsConfig) failureMemory() time.Duration {
	if c.FailureMemory == 0 {
		return 24 * time.Hour
	}
	return c.FailureMemory
}

func (c *LimitsConfig) maxTracked() int {
	if c.MaxTracked == 0 {
		return 100_000
	}
	return c.MaxTracked
}
