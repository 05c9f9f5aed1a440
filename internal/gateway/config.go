package gateway

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/flagx"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Config of the gateway, the only public HTTP entry.
type Config struct {
	// HTTPAddr is where the API, the web UI and the WebSocket endpoint /sub listen.
	HTTPAddr string `yaml:"http_addr"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading one whole request, headers and body: a body that is promised
	// and never sent is cut off at it. Not applied to /sub once it is a WebSocket.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds serving one request from the end of its headers to the last byte of
	// the response; at least request_timeout, so an API request that times out can still answer.
	// Not applied to /sub once it is a WebSocket (the comet has its own write deadlines), nor
	// as a whole to a video stream (/live/): there each write gets write_timeout.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no new request for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's line and headers; a larger one is answered 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// Lane serves the requests forwarded to upstream groups of plain http:// addresses in the
	// fast lane (internal/gateway/lane) instead of net/http's server; plain HTTP only.
	Lane bool `yaml:"lane"`
	// Loop serves the fast lane's requests on event loops (internal/gateway/loop: epoll,
	// Linux), one goroutine per core for all connections; with Lane only.
	Loop bool `yaml:"loop"`
	// MaxConnsPerIP caps the connections one client IP holds on the HTTP port, WebSockets at
	// /sub included (0 = no cap). Behind a proxy or load balancer every connection comes from
	// the proxy's address: set 0 there and cap at the proxy. The process-wide cap is conns.max_total.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MetricsAddr, when set, serves /metrics and /debug/pprof/ on this separate address, meant
	// to be reachable only from inside (firewalled, or a loopback/private address), and /metrics
	// is then no longer served on http_addr. Empty = /metrics on http_addr as before, and no
	// pprof anywhere: pprof is never served on the public port.
	MetricsAddr string `yaml:"metrics_addr"`
	// Upstreams maps a component that runs in another process to the base URL of that
	// process's HTTP port: every route of the component is forwarded there, so clients use one
	// address for the whole API. Empty = only the local components' routes are served.
	Upstreams map[string]string `yaml:"upstreams"`
	// RequestTimeout bounds one API request (not WebSocket connections).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests on stop.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TLSCertFile and TLSKeyFile, when both set, make http_addr HTTPS (and /sub WSS). The files
	// are read again when they change (a renewed certificate is used without a restart).
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// CORSOrigins are the origins (scheme://host[:port], "*" for any) whose pages may call the
	// API from a browser; empty = the web UI's own origin only.
	CORSOrigins []string `yaml:"cors_origins"`
	// FrameOptions is the X-Frame-Options of every answer: DENY, SAMEORIGIN, or empty (none).
	FrameOptions string `yaml:"frame_options"`
	// HSTSMaxAge, with TLS on, asks browsers to use HTTPS only for this long (0 = no HSTS).
	HSTSMaxAge time.Duration `yaml:"hsts_max_age"`
	// TrustedProxies are the reverse proxies and load balancers (CIDRs or addresses) whose
	// X-Forwarded-For / X-Real-IP name the client: the per-IP limits, the login guard and the
	// log lines then key on that client. From any other peer those headers are ignored.
	// Empty = every client is its direct peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RatePerIP is the sustained API requests per second one client IP may make (0 = no limit).
	RatePerIP float64 `yaml:"rate_per_ip"`
	// BurstPerIP is how many requests above the rate one IP may make at once.
	BurstPerIP int `yaml:"burst_per_ip"`
	// Limits are per-route rate limits, each counted for the whole route, per user or per IP,
	// on top of rate_per_ip; a request over any rule it matches is answered 429 (empty = none).
	Limits []LimitRule `yaml:"limits"`
	// Adaptive turns on load shedding: while the process's CPU use is over
	// adaptive_cpu_threshold and more requests are in flight than the node has lately shown it
	// can serve, new requests are answered 503 (reason overloaded) at once instead of queueing.
	// /healthz, /readyz, /metrics and /sub are never shed. false = off (the default).
	Adaptive bool `yaml:"adaptive"`
	// AdaptiveCPUThreshold is the process's CPU use, in thousandths of its GOMAXPROCS cores,
	// above which adaptive shedding may refuse requests.
	AdaptiveCPUThreshold int64 `yaml:"adaptive_cpu_threshold"`
	// SharedLimitTimeout bounds the Redis call of a shared rule (limits with shared: true):
	// past it, and for the next second, the rule is counted by each gateway alone.
	SharedLimitTimeout time.Duration `yaml:"shared_limit_timeout"`
	// Deny lists callers refused outright: 403 with reason denied_uid, denied_ip or
	// denied_device.
	Deny DenyConfig `yaml:"deny"`
	// Velocity bounds how often one caller may use sensitive routes (gift sending,
	// registration, login): 429 with reason velocity (empty = none).
	Velocity []VelocityRule `yaml:"velocity"`
	// Groups are the upstream groups routes send requests to: addresses, balancing, health
	// checks, retries and outlier ejection (docs/gateway.md; empty = none).
	Groups []pool.Config `yaml:"groups"`
	// Routes is the route table, tried in order before the gateway's own routes: match,
	// rewrite, auth, cache, upstream, overflow, timeout, breaker and degradation per route
	// (docs/gateway.md; empty = only the gateway's own routes). An operator's table set through
	// the admin API (PUT /api/admin/gateway/routes) is served instead while it exists.
	Routes []table.Route `yaml:"routes"`
}

// Table is the route table of the config.
func (c *Config) Table() table.Table { return table.Table{Groups: c.Groups, Routes: c.Routes} }

// DefaultMaxConnsPerIP is generous: one browser holds a /sub WebSocket and a few API
// connections, and viewers behind one carrier NAT share an address; one address still cannot
// take more than a small share of the process total.
const DefaultMaxConnsPerIP = 256

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	flagx.Strings(fs, prefix+"trusted_proxies", "CIDRs or addresses of reverse proxies whose X-Forwarded-For / X-Real-IP name the client, comma-separated (empty = none: the direct peer is the client).", &c.TrustedProxies)
	fs.StringVar(&c.TLSCertFile, prefix+"tls_cert_file", "", "PEM certificate (chain) of http_addr: HTTPS and WSS when set with tls_key_file; re-read when it changes.")
	fs.StringVar(&c.TLSKeyFile, prefix+"tls_key_file", "", "PEM private key of tls_cert_file.")
	flagx.Strings(fs, prefix+"cors_origins", "origins whose pages may call the API from a browser, comma-separated, \"*\" for any (empty = same origin only).", &c.CORSOrigins)
	fs.StringVar(&c.FrameOptions, prefix+"frame_options", "DENY", "X-Frame-Options of every answer: DENY, SAMEORIGIN or empty (none).")
	fs.DurationVar(&c.HSTSMaxAge, prefix+"hsts_max_age", 0, "with tls_cert_file: Strict-Transport-Security max-age (0 = no HSTS; e.g. 4320h once HTTPS is there to stay).")
	fs.StringVar(&c.HTTPAddr, prefix+"http_addr", ":8080", "listen address of the API, web UI and /sub WebSocket.")
	fs.DurationVar(&c.ReadHeaderTimeout, prefix+"read_header_timeout", 5*time.Second, "time a client has to send request headers.")
	fs.DurationVar(&c.ReadTimeout, prefix+"read_timeout", 15*time.Second, "time a client has to send a whole request, headers and body.")
	fs.DurationVar(&c.WriteTimeout, prefix+"write_timeout", 30*time.Second, "time to serve one request after its headers, response included (>= request_timeout; not /sub WebSockets).")
	fs.DurationVar(&c.IdleTimeout, prefix+"idle_timeout", 60*time.Second, "an idle keep-alive connection is closed after this long.")
	fs.IntVar(&c.MaxHeaderBytes, prefix+"max_header_bytes", 64<<10, "largest request line and headers accepted, in bytes (431 above it).")
	fs.BoolVar(&c.Loop, prefix+"loop", true, "serve the fast lane's requests on event loops, one per core (epoll, Linux; with lane): a request that would block them (a token not in memory, a limit counted in Redis) and every other one go to the lane or net/http as before (false = a goroutine per connection).")
	fs.BoolVar(&c.Lane, prefix+"lane", true, "serve requests forwarded to upstream groups in the fast lane, outside net/http's server (plain HTTP only; false = net/http for everything).")
	fs.IntVar(&c.MaxConnsPerIP, prefix+"max_conns_per_ip", DefaultMaxConnsPerIP, "connections one client IP may hold on http_addr, /sub WebSockets included (0 = no cap; set 0 behind a proxy).")
	fs.StringVar(&c.MetricsAddr, prefix+"metrics_addr", "", "separate, internal listen address of /metrics and /debug/pprof/ (empty = /metrics on http_addr, no pprof).")
	fs.Func(prefix+"upstreams", "components in other processes whose routes this gateway forwards, comma-separated component=http://host:port (empty = none).", func(v string) error {
		c.Upstreams = map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			name, u, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("want component=URL, got %q", kv)
			}
			c.Upstreams[strings.TrimSpace(name)] = strings.TrimSpace(u)
		}
		return nil
	})
	fs.DurationVar(&c.RequestTimeout, prefix+"request_timeout", 10*time.Second, "time limit of one API request.")
	fs.DurationVar(&c.ShutdownTimeout, prefix+"shutdown_timeout", 10*time.Second, "graceful drain of in-flight requests on stop.")
	fs.Float64Var(&c.RatePerIP, prefix+"rate_per_ip", 50, "API requests per second per client IP (0 = no limit).")
	fs.IntVar(&c.BurstPerIP, prefix+"burst_per_ip", 100, "burst of API requests per client IP above the rate.")
	fs.BoolVar(&c.Adaptive, prefix+"adaptive", false, "shed requests (503, reason overloaded) while CPU use is over adaptive_cpu_threshold and more are in flight than the node has shown it serves; health, metrics and /sub are never shed.")
	fs.Int64Var(&c.AdaptiveCPUThreshold, prefix+"adaptive_cpu_threshold", 800, "with adaptive: the process's CPU use, in thousandths of its GOMAXPROCS cores, above which requests may be shed (1..1000).")
	flagx.JSONList(fs, prefix+"limits",
		`per-route rate limits as a JSON list of {"name","match":"METHOD /path/{id}","scope":"route"|"user"|"ip","rate","burst","shared":false} (empty = none; a list in YAML; shared needs redis.addr).`, &c.Limits)
	c.Deny.RegisterFlags(fs, prefix+"deny.")
	flagx.JSONList(fs, prefix+"velocity",
		`per-caller velocity on sensitive routes as a JSON list of {"name","match":"POST /api/auth/login","count","window":"1m"} (empty = none; a list in YAML).`, &c.Velocity)
	flagx.JSONList(fs, prefix+"groups",
		`upstream groups of the route table as a JSON list of {"name","addrs":["http://host:port"],"balance","health","retries","retry_budget","eject"} (empty = none; a list in YAML; docs/gateway.md).`, &c.Groups)
	flagx.JSONList(fs, prefix+"routes",
		`the route table as a JSON list of {"name","match":"GET /path/","upstream":"group"|"local",...}, tried in order before the built-in routes (empty = none; a list in YAML; docs/gateway.md).`, &c.Routes)
	fs.DurationVar(&c.SharedLimitTimeout, prefix+"shared_limit_timeout", 50*time.Millisecond, "time limit of the Redis call of a shared limit rule; past it the rule counts in each gateway alone for a second.")
}

// LiveKeys are the settings (below the gateway. prefix) that Reload changes in a running
// gateway; any other needs a restart.
func LiveKeys() []string {
	return []string{"rate_per_ip", "burst_per_ip", "limits", "adaptive", "adaptive_cpu_threshold",
		"deny.uids", "deny.ips", "deny.devices", "deny.device_header", "velocity", "groups", "routes"}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.HTTPAddr == "" {
		return errors.New("gateway.http_addr must not be empty")
	}
	switch c.FrameOptions {
	case "", "DENY", "SAMEORIGIN":
	default:
		return fmt.Errorf("gateway.frame_options %q: want DENY, SAMEORIGIN or empty", c.FrameOptions)
	}
	if c.HSTSMaxAge < 0 {
		return errors.New("gateway.hsts_max_age must not be negative")
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "") {
			return fmt.Errorf("gateway.cors_origins: %q is not an origin (scheme://host[:port], or *)", o)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("gateway.tls_cert_file and gateway.tls_key_file go together")
	}
	if _, err := httpx.ParseProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("gateway.trusted_proxies: %w", err)
	}
	for name, raw := range c.Upstreams {
		if _, err := c.UpstreamURL(name); err != nil {
			return fmt.Errorf("gateway.upstreams: %s=%q: %w", name, raw, err)
		}
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 ||
		c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0 {
		return errors.New("gateway timeouts must be positive")
	}
	if c.WriteTimeout < c.RequestTimeout {
		return errors.New("gateway.write_timeout must be at least request_timeout")
	}
	if c.MaxHeaderBytes < 0 {
		return errors.New("gateway.max_header_bytes must not be negative")
	}
	if c.MaxConnsPerIP < 0 {
		return errors.New("gateway.max_conns_per_ip must not be negative")
	}
	if c.RatePerIP < 0 || (c.RatePerIP > 0 && c.BurstPerIP < 1) {
		return errors.New("gateway.rate_per_ip must be >= 0 and burst_per_ip >= 1 when limiting")
	}
	if c.SharedLimitTimeout <= 0 {
		return errors.New("gateway.shared_limit_timeout must be positive")
	}
	if c.AdaptiveCPUThreshold < 1 || c.AdaptiveCPUThreshold > 1000 {
		return errors.New("gateway.adaptive_cpu_threshold must be in 1..1000")
	}
	if err := c.Deny.Validate(); err != nil {
		return err
	}
	if _, err := asLimits(c.Velocity); err != nil {
		return err
	}
	if err := validateRules(c.Limits); err != nil {
		return err
	}
	return c.Table().Validate()
}

// SharedLimits reports whether any rule of limits is shared through Redis.
func (c *Config) SharedLimits() bool {
	return slices.ContainsFunc(c.Limits, func(r LimitRule) bool { return r.Shared })
}

// UpstreamURL parses the base URL of a component's upstream.
func (c *Config) UpstreamURL(name string) (*url.URL, error) {
	u, err := url.Parse(c.Upstreams[name])
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("want http://host:port or https://host:port")
	}
	u.Path = ""
	return u, nil
}
