// Package gateway is the public HTTP entry of a zhibo node: it mounts the routes of every
// component running in the process, the WebSocket endpoint /sub, the web UI, health, metrics
// and the merged OpenAPI description, behind one chain of trace and route metrics → adaptive
// shedding → per-IP rate limit → identity → deny lists → velocity → per-route limits.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/gateway/loop"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
	"github.com/zhibo-live/zhibo/internal/platform/tlsx"
)

// Routes is a component that serves HTTP routes.
type Routes interface {
	Register(mux *http.ServeMux)
}

// Deps are the gateway's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	Verifier httpx.Verifier // nil: bearer tokens are not checked here (no account component)
	Routes   []Routes
	OpenAPI  [][]byte // fragments merged into /api/openapi.json
	// Upstreams are the components that run in other processes, whose routes are forwarded.
	Upstreams []Upstream
	Sub       http.Handler // WebSocket endpoint, nil when no comet runs here
	Web       http.Handler // the UI, nil for an API-only node
	Ready     func(ctx context.Context) error
	// Streams are path prefixes of long-lived responses (HTTP-FLV), served or forwarded
	// without the whole-request timeouts: each write is bounded by write_timeout instead.
	Streams []string
	// Shared is the Redis the rules marked shared count in (nil = none: they count in this
	// process alone, as fallbacks).
	Shared *cache.Redis
	// Conns is the process-wide connection budget shared with the other listeners of the
	// process (nil = no total cap).
	Conns *connlimit.Total
	// Identities signs the caller of a route-table request for its upstream and verifies the
	// identities a gateway in front of this one signed (nil = none are signed or accepted).
	Identities Identities
	// IsAdmin decides who may call the operator routes and routes with auth admin.
	IsAdmin func(uid int64) bool
	// Tables, when set, shares the operator's route table (the admin API's) with every
	// gateway of the cluster; nil = it applies to this process alone, until a restart.
	Tables *table.Shared
}

// Identities signs and verifies the identities the gateway passes downstream.
type Identities interface {
	httpx.Identities
	SignIdentity(uid int64, now time.Time) string
}

// Service is the gateway.
type Service struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	handler http.Handler
	mux     *http.ServeMux // the built-in routes, behind the route table
	srv     *http.Server
	lane    *lane.Server             // nil: net/http serves every connection
	loop    *loop.Server             // nil: the lane accepts the connections itself
	ipLimit *ratelimit.Keyed[string] // rate_per_ip, changed by Reload
	limits  *routeLimits             // gateway.limits, changed by Reload
	shed    *shedder                 // gateway.adaptive, changed by Reload
	risk    *risk                    // gateway.deny and gateway.velocity, changed by Reload
	routes  *routes                  // gateway.routes and gateway.groups, or the operator's table
	groups  []*pool.Group            // of the component upstreams (gateway.upstreams)

	laneMetrics *lane.Metrics
	loopMetrics *loop.Metrics
	certs       *tlsx.Certs // nil: plain HTTP

	mu   sync.Mutex
	addr net.Addr
	done chan struct{}

	debugSrv  *http.Server // metrics_addr: /metrics and pprof; nil when unset
	debugAddr net.Addr
	debugDone chan struct{}
}

// New builds the route table; Start listens.
func New(cfg Config, deps Deps) (*Service, error) {
	fragments := deps.OpenAPI
	for _, u := range deps.Upstreams {
		fragments = append(fragments, u.OpenAPI...)
	}
	spec, err := MergeOpenAPI(fragments...)
	if err != nil {
		return nil, err
	}
	pools := pool.NewMetrics(deps.Registry) // the table's groups and the component upstreams'
	rdeps := table.Deps{Logger: deps.Logger, Registry: deps.Registry, Pools: pools, Timeout: cfg.RequestTimeout, IsAdmin: deps.IsAdmin,
		Lean: cfg.Lane}
	if deps.Identities != nil {
		ids := &identityCache{sign: deps.Identities.SignIdentity}
		rdeps.Identity = ids.get
	}
	router, err := table.New(cfg.Table(), rdeps)
	if err != nil {
		return nil, err
	}
	rts := &routes{router: router, cfg: cfg.Table(), shared: deps.Tables, isAdmin: deps.IsAdmin, log: deps.Logger}
	mux := http.NewServeMux()
	rts.register(mux)
	var groups []*pool.Group // of the component upstreams
	for _, r := range deps.Routes {
		r.Register(mux)
	}
	if len(deps.Upstreams) > 0 {
		failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_upstream_failures_total",
			Help: "Forwarded requests that got no answer from the component's process, by upstream."}, []string{"upstream"})
		deps.Registry.MustRegister(failures)
		for _, u := range deps.Upstreams {
			g, err := UpstreamGroup(u.Name, u.URL, deps.Logger, pools)
			if err != nil {
				return nil, err
			}
			groups = append(groups, g)
			if err := forward(mux, u, g, deps.Logger, rdeps.Identity, failures, cfg.Lane); err != nil {
				return nil, err
			}
		}
	}
	mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(spec)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if deps.Ready != nil {
			if err := deps.Ready(r.Context()); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if deps.Gatherer != nil && cfg.MetricsAddr == "" { // else on metrics_addr only (debug.go)
		mux.Handle("GET /metrics", promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{}))
	}
	if deps.Sub != nil {
		mux.Handle("GET /sub", deps.Sub)
	}
	// Everything else: unknown API paths get the JSON envelope; other GETs get the UI.
	notFound := httpx.Handle(deps.Logger, func(http.ResponseWriter, *http.Request) error { return errNoRoute })
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if deps.Web == nil || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/xlive/") ||
			(r.Method != http.MethodGet && r.Method != http.MethodHead) {
			notFound.ServeHTTP(w, r)
			return
		}
		deps.Web.ServeHTTP(w, r)
	}))

	m := newLimitMetrics(deps.Registry)
	var client rueidis.Client
	prefix := ""
	if deps.Shared != nil {
		client, prefix = deps.Shared.Client(), deps.Shared.Prefix()
	}
	shared := newSharedLimiter(client, prefix, cfg.SharedLimitTimeout, m.fallbacks, deps.Logger)
	limits, err := newRouteLimits(cfg.Limits, shared, m.limited)
	if err != nil {
		return nil, err
	}
	rk, err := newRisk(cfg, m)
	if err != nil {
		return nil, err
	}
	var h http.Handler = router.Handler(mux) // the table first, then the built-in routes
	h = limitRoutes(limits, h)               // after Identify: a user rule needs the uid
	h = guard(rk, h)                         // deny lists, then velocity; after Identify too
	if deps.Verifier != nil || deps.Identities != nil {
		var ids httpx.Identities
		if deps.Identities != nil {
			ids = deps.Identities
		}
		h = httpx.Identify(deps.Verifier, ids, h)
	}
	ipLimit := ratelimit.NewKeyed[string](cfg.RatePerIP, cfg.BurstPerIP)
	h = limitPerIP(ipLimit, m.limited, h)
	shedding := &shedder{shed: m.shed}
	shedding.set(cfg.Adaptive, cfg.AdaptiveCPUThreshold)
	h = shed(shedding, h)
	h = httpx.Observe(deps.Logger, httpx.NewMetrics(deps.Registry), h)
	proxies, err := httpx.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("gateway.trusted_proxies: %w", err)
	}
	h = withCORS(cfg, h)
	h = securityHeaders(cfg, h)
	h = elastic.Middleware(h) // the pool mark, from trusted proxies only: inside TrustProxies
	h = httpx.TrustProxies(proxies, h)
	h = withTimeout(cfg, h)
	h = withStreams(deps.Streams, cfg.WriteTimeout, h)
	h = closeAfterChunked(h)
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger, handler: h, mux: mux, ipLimit: ipLimit, limits: limits, shed: shedding, risk: rk, routes: rts, groups: groups,
		laneMetrics: lane.NewMetrics(deps.Registry), loopMetrics: loop.NewMetrics(deps.Registry)}
	if cfg.TLSCertFile != "" {
		if s.certs, err = tlsx.Load(cfg.TLSCertFile, cfg.TLSKeyFile, deps.Logger); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if deps.Registry != nil {
			deps.Registry.MustRegister(tlsx.ExpiryGauge("gateway", s.certs))
		}
	}
	return s, nil
}

// Handler is the full chain, for tests that serve it themselves.
func (s *Service) Handler() http.Handler { return s.handler }

// withTimeout puts a deadline on API requests (not on the long-lived WebSocket).
func withTimeout(cfg Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sub" || !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), cfg.RequestTimeout)
		defer httpx.After(w, cancel)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Start listens and serves in the background.
func (s *Service) Start(ctx context.Context) error {
	lim, err := connlimit.New(connlimit.Options{Listener: "gateway", PerIP: s.cfg.MaxConnsPerIP,
		Total: s.deps.Conns, Logger: s.log, Registry: s.deps.Registry})
	if err != nil {
		return err
	}
	if s.cfg.MetricsAddr != "" {
		s.mu.Lock()
		err := s.startDebug()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	for _, g := range s.groups {
		g.Start()
	}
	if err := s.routes.start(ctx); err != nil {
		s.stopDebug(context.Background())
		return fmt.Errorf("gateway: route table: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		s.routes.stop()
		s.stopDebug(context.Background())
		return fmt.Errorf("gateway: listen %s: %w", s.cfg.HTTPAddr, err)
	}
	ln = lim.Listen(ln)
	if s.certs != nil {
		// HTTP/1.1 only: /sub upgrades to a WebSocket, which needs a connection to itself.
		ln = tls.NewListener(ln, s.certs.ServerConfig("http/1.1"))
	}
	// Read and write timeouts end at a hijack (net/http clears the deadlines), so the /sub
	// WebSockets are bound by the comet's own deadlines, not by these.
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes, // 0 = net/http's 1 MiB
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.certs == nil {
		// Plain HTTP also takes HTTP/2 with prior knowledge (h2c): what a gRPC client without
		// TLS speaks, for route-table routes to gRPC upstream groups. HTTP/1 clients, and the
		// /sub WebSocket upgrade, are untouched.
		s.srv.Protocols = new(http.Protocols)
		s.srv.Protocols.SetHTTP1(true)
		s.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	serve := s.srv.Serve
	if s.certs == nil && s.cfg.Lane {
		s.lane = &lane.Server{Handler: s.handler, Takes: s.laneTakes, Fallback: s.srv,
			ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, ReadTimeout: s.cfg.ReadTimeout,
			WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout,
			MaxHeaderBytes: s.cfg.MaxHeaderBytes, Log: s.log, Metrics: s.laneMetrics}
		serve = s.lane.Serve
		if s.cfg.Loop && loop.Available() {
			s.loop = &loop.Server{Handler: s.handler, Takes: s.loopTakes, Lane: s.lane,
				ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, ReadTimeout: s.cfg.ReadTimeout,
				WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout,
				MaxHeaderBytes: s.cfg.MaxHeaderBytes, Log: s.log, Metrics: s.loopMetrics}
			serve = s.loop.Serve
		}
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.done = make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("gateway stopped serving", "err", err)
		}
	}()
	s.log.Info("gateway listening", "addr", ln.Addr().String())
	return nil
}

// laneTakes decides the requests the fast lane serves: those the route table sends to a
// group it forwards to with the lean client, and those of the components of other processes
// forwarded the same way.
func (s *Service) laneTakes(r *http.Request) bool {
	if s.routes.router.Lean(r) {
		return true
	}
	h, _ := s.mux.Handler(r)
	lp, ok := h.(interface{ Takes(*http.Request) bool })
	return ok && lp.Takes(r)
}

// loopTakes decides what the event loop does with a request: it serves those the lane would,
// but for long-lived answers (streams) and requests under a limit counted in Redis, which stay
// with the lane, and requests whose bearer token the verifier cannot check from memory, which
// the lane serves before the connection comes back.
func (s *Service) loopTakes(r *http.Request) loop.Verdict {
	if !s.laneTakes(r) || s.limits.shares(r) {
		return loop.Lane
	}
	for _, p := range s.deps.Streams {
		if strings.HasPrefix(r.URL.Path, p) {
			return loop.Lane
		}
	}
	if s.deps.Verifier != nil {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			pv, prompt := s.deps.Verifier.(httpx.PromptVerifier)
			if !prompt || !pv.VerifiesAtOnce(strings.TrimSpace(tok)) {
				return loop.Wait
			}
		}
	}
	return loop.Serve
}

// Addr is the listening address after Start.
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop stops accepting and drains in-flight requests.
func (s *Service) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	defer s.stopDebug(ctx)
	defer s.routes.stop() // after the drain: requests in flight keep their groups
	defer func() {
		for _, g := range s.groups {
			g.Stop()
		}
	}()
	if s.srv == nil {
		return nil
	}
	var err error
	if s.loop != nil {
		err = s.loop.Shutdown(ctx) // and the lane, and the net/http server behind it
	} else if s.lane != nil {
		err = s.lane.Shutdown(ctx) // and the net/http server it hands connections to
	} else {
		err = s.srv.Shutdown(ctx)
	}
	<-s.done
	return err
}

// stopDebug stops the metrics address, if it runs; a profile in progress is cut off.
func (s *Service) stopDebug(ctx context.Context) {
	if s.debugSrv == nil {
		return
	}
	if err := s.debugSrv.Shutdown(ctx); err != nil {
		_ = s.debugSrv.Close()
	}
	<-s.debugDone
	s.debugSrv = nil
}
