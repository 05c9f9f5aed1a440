package pool

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Group is a set of upstream addresses behind one name; it sends each request to one of them.
// It is an http.RoundTripper, safe for concurrent use.
type Group struct {
	cfg   Config // with defaults
	log   *slog.Logger
	addrs []*upstream

	http, h2c *http.Transport // h2c is nil when no address is h2c
	rr        atomic.Uint64   // round robin position, also the first choice of least_request
	budget    *budget         // nil when cfg.Retries == 0
	retries   struct{ sent, exhausted prometheus.Counter }

	mu      sync.Mutex // guards the fields below and every upstream's ejection state
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// upstream is one address of a group and what the group knows of it.
type upstream struct {
	addr   string // as configured: the metrics' addr label, AddrStatus.Addr
	scheme string // what the transport dials: http or https (h2c is sent as http)
	host   string
	h2c    bool
	m      addrMetrics

	idleConns // of the lean client (h1.go)

	inFlight atomic.Int64
	healthy  atomic.Bool  // by active health checks; true until a probe says otherwise
	until    atomic.Int64 // ejected until this time, Unix nanoseconds; 0 = never ejected
	failures atomic.Int64 // consecutive failures of live traffic

	// Guarded by Group.mu.
	ejections int         // consecutive ejections, with no success between them
	timer     *time.Timer // ends the current ejection on the up gauge
}

// AddrStatus is what the admin API shows of one address.
type AddrStatus struct {
	Addr string `json:"addr"`
	// Up is the address's state by health checks (always true without them).
	Up bool `json:"up"`
	// Ejected is true while outlier ejection keeps the address out, until EjectedUntil.
	Ejected      bool      `json:"ejected"`
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	InFlight     int64     `json:"in_flight"`
	// Failures counts the consecutive failures of live traffic since the last success.
	Failures int `json:"failures"`
}

// New checks cfg and builds its group; it starts nothing (see Start). A nil m counts into
// metrics registered nowhere; a nil log discards.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	g := &Group{cfg: cfg, log: log, http: newTransport(false)}
	for _, a := range cfg.Addrs {
		u, _, err := parseAddr(a)
		if err != nil { // Validate has seen it
			return nil, err
		}
		up := &upstream{addr: a, scheme: u.Scheme, host: u.Host, m: m.forAddr(cfg.Name, a)}
		if u.Scheme == schemeH2C {
			up.scheme, up.h2c = schemeHTTP, true
			if g.h2c == nil {
				g.h2c = newTransport(true)
			}
		}
		up.healthy.Store(true)
		up.m.up.Set(1)
		up.m.inFlight.Set(0)
		g.addrs = append(g.addrs, up)
	}
	g.retries.sent = m.retries.WithLabelValues(cfg.Name, retrySent)
	g.retries.exhausted = m.retries.WithLabelValues(cfg.Name, retryExhausted)
	if cfg.Retries > 0 {
		g.budget = newBudget(cfg.RetryBudget)
	}
	return g, nil
}

// newTransport keeps connections alive to each address and bounds dials; like the gateway's
// one-upstream transport, no response-header wait beyond the request's own deadline. The h2c
// one speaks HTTP/2 without TLS to http:// URLs, with pings to find dead connections.
func newTransport(h2c bool) *http.Transport {
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	p := new(http.Protocols)
	if h2c {
		p.SetUnencryptedHTTP2(true)
		t.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	} else {
		p.SetHTTP1(true)
		p.SetHTTP2(true) // on https addresses, when the upstream offers it
	}
	t.Protocols = p
	return t
}

// Start starts the health checks, when Health.Path is set. Calling it again, or after Stop,
// does nothing.
func (g *Group) Start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.stopped {
		return
	}
	g.started = true
	if g.cfg.Health.Path == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	for _, u := range g.addrs {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.check(ctx, u)
		}()
	}
}

// Stop stops the health checks, waits for them and closes idle connections. The group still
// sends requests (its addresses keep the last state the checks gave them); calling it again
// does nothing.
func (g *Group) Stop() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.stopped = true
	if g.cancel != nil {
		g.cancel()
	}
	for _, u := range g.addrs {
		if u.timer != nil {
			u.timer.Stop()
		}
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.http.CloseIdleConnections()
	for _, u := range g.addrs {
		u.closeIdle()
	}
	if g.h2c != nil {
		g.h2c.CloseIdleConnections()
	}
}

// Config returns the group's config with the defaults filled in (compare a new config with it
// after its own WithDefaults).
func (g *Group) Config() Config {
	c := g.cfg
	c.Addrs = append([]string(nil), c.Addrs...)
	return c
}

// Status reports every address, in config order.
func (g *Group) Status() []AddrStatus {
	now := time.Now().UnixNano()
	out := make([]AddrStatus, len(g.addrs))
	for i, u := range g.addrs {
		s := AddrStatus{Addr: u.addr, Up: u.healthy.Load(), InFlight: u.inFlight.Load(),
			Failures: int(u.failures.Load())}
		if until := u.until.Load(); until > now {
			s.Ejected, s.EjectedUntil = true, time.Unix(0, until)
		}
		out[i] = s
	}
	return out
}

// transport is the one that speaks u's protocol.
func (g *Group) transport(u *upstream) *http.Transport {
	if u.h2c {
		return g.h2c
	}
	return g.http
}

// ejected reports whether u is ejected at now (Unix nanoseconds).
func (u *upstream) ejected(now int64) bool { return u.until.Load() > now }

// setUp sets the up gauge from the health state and ejection at now; call it with Group.mu
// held, so that health checks and ejections do not write it out of order.
func (u *upstream) setUp(now int64) {
	v := 0.0
	if u.healthy.Load() && !u.ejected(now) {
		v = 1
	}
	u.m.up.Set(v)
}
