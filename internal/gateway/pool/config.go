package pool

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"
)

// Balance policies.
const (
	BalanceLeastRequest = "least_request"
	BalanceRoundRobin   = "round_robin"
)

// Address schemes. h2c is HTTP/2 without TLS, for gRPC upstreams.
const (
	schemeHTTP  = "http"
	schemeHTTPS = "https"
	schemeH2C   = "h2c"
)

// Defaults filled by WithDefaults where a field is zero.
const (
	defaultInterval    = 2 * time.Second
	defaultTimeout     = time.Second
	defaultFails       = 2
	defaultPasses      = 1
	defaultRetryBudget = 0.2
	defaultEjectFails  = 5
	defaultEjectFor    = 30 * time.Second
	defaultMaxPercent  = 50
	// EjectOff in Eject.Failures turns passive outlier ejection off.
	EjectOff = -1
)

// Config of one upstream group: gateway.groups[] in YAML, the same names in JSON (flags, admin
// API). The zero value of every field but Name and Addrs means its default, written next to it.
type Config struct {
	// Name identifies the group in routes, logs and metrics.
	Name string `yaml:"name" json:"name"`
	// Addrs are "http://host:port", "https://host:port" or "h2c://host:port" (HTTP/2 without
	// TLS: gRPC upstreams); no path. At least one, no two for the same host:port.
	Addrs []string `yaml:"addrs" json:"addrs"`
	// Balance is "least_request" (default when empty) or "round_robin".
	Balance string `yaml:"balance" json:"balance"`
	// Health configures active health checks; none when Health.Path is empty.
	Health Health `yaml:"health" json:"health"`
	// Retries is how many extra attempts an idempotent request may make, each on another
	// address when there is one; 0 (default) = none.
	Retries int `yaml:"retries" json:"retries"`
	// RetryBudget bounds retries to this fraction of the group's requests over the last 10 s,
	// plus 3 retries a second so a quiet group can still retry. 0 means the default 0.2; at most 1.
	RetryBudget float64 `yaml:"retry_budget" json:"retry_budget"`
	// Eject configures passive outlier ejection from live traffic.
	Eject Eject `yaml:"eject" json:"eject"`
}

// Health configures the active checks: a GET of Path on every address.
type Health struct {
	// Path is probed on each address (2xx and 3xx pass); empty = no active checks, every
	// address is always up as far as health goes. An h2c address (a gRPC server) is asked
	// the standard gRPC health check (grpc.health.v1.Health/Check) instead, for the service
	// Path names: "/" = the server as a whole, "/zhibo.room.v1.RoomService" = that service;
	// SERVING passes.
	Path string `yaml:"path" json:"path"`
	// Interval between probes of one address, ±10% jitter; 0 = 2s.
	Interval Duration `yaml:"interval" json:"interval"`
	// Timeout of one probe; 0 = 1s.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Fails is how many consecutive failed probes mark an address down; 0 = 2.
	Fails int `yaml:"fails" json:"fails"`
	// Passes is how many consecutive good probes bring it back; 0 = 1.
	Passes int `yaml:"passes" json:"passes"`
}

// Eject configures passive outlier ejection: an address that fails live requests is taken out
// for a while, without waiting for the health checks (there may be none).
type Eject struct {
	// Failures is how many consecutive failures (transport error or status >= 500) eject an
	// address; 0 = 5, -1 = no ejection.
	Failures int `yaml:"failures" json:"failures"`
	// For is the base ejection time, doubled for each consecutive ejection (with no success
	// between them) up to 10 times For; 0 = 30s.
	For Duration `yaml:"for" json:"for"`
	// MaxPercent caps the share of the group's addresses ejected at once, rounded down (of 3
	// addresses at 50%, one); 0 = 50. To turn ejection off use Failures: -1.
	MaxPercent int `yaml:"max_percent" json:"max_percent"`
}

// Duration is a time.Duration written as Go writes it ("2s", "1m30s") in YAML and JSON alike.
type Duration time.Duration

// MarshalText writes the duration as Go does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration ("500ms").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Validate reports every problem of c, each naming the group and the field. Zero values are
// valid (they mean the defaults); Validate fills nothing in.
func (c *Config) Validate() error {
	name := c.Name
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("group %q: %s: %s", name, field, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.Name) == "" {
		bad("name", "must not be empty")
	}
	if len(c.Addrs) == 0 {
		bad("addrs", "must list at least one address")
	}
	seen := make(map[string]int, len(c.Addrs))
	for i, a := range c.Addrs {
		field := fmt.Sprintf("addrs[%d]", i)
		_, key, err := parseAddr(a)
		if err != nil {
			bad(field, "%q: %v", a, err)
			continue
		}
		if j, dup := seen[key]; dup {
			bad(field, "%q is the same host:port as addrs[%d]", a, j)
			continue
		}
		seen[key] = i
	}
	switch c.Balance {
	case "", BalanceLeastRequest, BalanceRoundRobin:
	default:
		bad("balance", "%q is not %q or %q", c.Balance, BalanceLeastRequest, BalanceRoundRobin)
	}
	if c.Retries < 0 {
		bad("retries", "%d is negative", c.Retries)
	}
	if math.IsNaN(c.RetryBudget) || c.RetryBudget < 0 || c.RetryBudget > 1 {
		bad("retry_budget", "%v is not between 0 and 1", c.RetryBudget)
	}
	h := c.Health
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		bad("health.path", "%q does not start with /", h.Path)
	}
	if h.Interval < 0 {
		bad("health.interval", "%v is negative", time.Duration(h.Interval))
	}
	if h.Timeout < 0 {
		bad("health.timeout", "%v is negative", time.Duration(h.Timeout))
	}
	if h.Fails < 0 {
		bad("health.fails", "%d is negative", h.Fails)
	}
	if h.Passes < 0 {
		bad("health.passes", "%d is negative", h.Passes)
	}
	e := c.Eject
	if e.Failures < EjectOff {
		bad("eject.failures", "%d: want -1 (off), 0 (default 5) or more", e.Failures)
	}
	if e.For < 0 {
		bad("eject.for", "%v is negative", time.Duration(e.For))
	}
	if e.MaxPercent < 0 || e.MaxPercent > 100 {
		bad("eject.max_percent", "%d is not between 0 and 100", e.MaxPercent)
	}
	return errors.Join(errs...)
}

// WithDefaults returns c with every zero field that has a default set to it, and its own copy
// of Addrs.
func (c Config) WithDefaults() Config {
	c.Addrs = append([]string(nil), c.Addrs...)
	if c.Balance == "" {
		c.Balance = BalanceLeastRequest
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = defaultRetryBudget
	}
	if c.Health.Interval == 0 {
		c.Health.Interval = Duration(defaultInterval)
	}
	if c.Health.Timeout == 0 {
		c.Health.Timeout = Duration(defaultTimeout)
	}
	if c.Health.Fails == 0 {
		c.Health.Fails = defaultFails
	}
	if c.Health.Passes == 0 {
		c.Health.Passes = defaultPasses
	}
	if c.Eject.Failures == 0 {
		c.Eject.Failures = defaultEjectFails
	}
	if c.Eject.For == 0 {
		c.Eject.For = Duration(defaultEjectFor)
	}
	if c.Eject.MaxPercent == 0 {
		c.Eject.MaxPercent = defaultMaxPercent
	}
	return c
}

// parseAddr checks one address and returns it as a URL (h2c kept as the scheme) and the
// host:port key, with the scheme's default port, that two addresses must not share.
func parseAddr(a string) (*url.URL, string, error) {
	u, err := url.Parse(a)
	if err != nil {
		return nil, "", err
	}
	port := ""
	switch u.Scheme {
	case schemeHTTP, schemeH2C:
		port = "80"
	case schemeHTTPS:
		port = "443"
	default:
		return nil, "", fmt.Errorf("scheme must be %s, %s or %s", schemeHTTP, schemeHTTPS, schemeH2C)
	}
	if u.Hostname() == "" {
		return nil, "", errors.New("no host")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, "", errors.New("want scheme://host:port and nothing more")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return u, net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}
