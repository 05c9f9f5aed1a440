// Package table is the gateway's route table: routes matched by method, host, path, query and
// headers, rewritten, checked for the caller once, answered from a cache, sent to a local
// component or to a group of upstream addresses (with an elastic group for the excess over a
// threshold), and degraded — a fixed body, the last good answer or 503 with a reason — when
// the upstream fails, its circuit is open or an operator switched the route off.
//
// The table is swapped whole: a new one is validated, compiled (keeping the groups, caches
// and breakers of what did not change) and installed with one atomic store, so a request in
// flight finishes with the table it started with and none fails because of a reload.
package table

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
)

// Deps are what the router needs from the gateway.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Pools are the upstream metrics the groups count in (nil = made from Registry).
	Pools *pool.Metrics
	// Timeout is the upstream time limit of a route that names none.
	Timeout time.Duration
	// IsAdmin decides the routes with auth admin (nil = nobody is).
	IsAdmin func(uid int64) bool
	// Identity signs the caller's uid for the upstream (nil = no identity is passed).
	Identity func(uid int64) string
	// Lean forwards to groups of plain http:// addresses with the lean client
	// (pool.Group.Exchange) instead of httputil.ReverseProxy (gateway.lane).
	Lean bool
}

// Router serves the table in force and falls through to the local routes.
type Router struct {
	deps    Deps
	log     *slog.Logger
	m       *metrics
	pm      *pool.Metrics
	buffers *buffers
	cur     atomic.Pointer[compiled]
	mu      sync.Mutex // one swap at a time; guards started and stopped
	started bool
	stopped bool
}

// compiled is a table ready to serve.
type compiled struct {
	src    Table
	routes []*route
	groups map[string]*group
}

// group is an upstream group with the proxy that sends requests to it.
type group struct {
	g     *pool.Group
	proxy http.Handler
}

// route is a compiled Route with its state (cache, breaker, overflow bucket), kept across
// swaps while the route is unchanged.
type route struct {
	Route
	pat      Pattern
	when     []cond
	rewrites []rewrite
	cache    *store
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	overflow *rate.Limiter
	timeout  time.Duration
	counts   routeCounters
}

// New builds a router serving t, refusing an invalid one; Start starts the groups' health checks.
func New(t Table, deps Deps) (*Router, error) {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Pools == nil {
		deps.Pools = pool.NewMetrics(deps.Registry)
	}
	rt := &Router{deps: deps, log: deps.Logger, m: newMetrics(deps.Registry), pm: deps.Pools, buffers: newBuffers()}
	if err := rt.Swap(t); err != nil {
		return nil, err
	}
	return rt, nil
}

// Table is the table in force.
func (rt *Router) Table() Table { return rt.cur.Load().src }

// Swap validates t and puts it in force for the next request; on an error the table in force
// stays. Groups, caches, breakers and overflow buckets of unchanged entries carry over.
func (rt *Router) Swap(t Table) error {
	if err := t.Validate(); err != nil {
		return err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stopped {
		return errors.New("route table: stopped")
	}
	old := rt.cur.Load()
	next := &compiled{src: t, groups: map[string]*group{}}
	var started []*pool.Group
	for _, gc := range t.Groups {
		if old != nil {
			if g, ok := old.groups[gc.Name]; ok && reflect.DeepEqual(g.g.Config(), gc.WithDefaults()) {
				next.groups[gc.Name] = g
				continue
			}
		}
		pg, err := pool.New(gc, rt.log.With("group", gc.Name), rt.pm)
		if err != nil {
			for _, s := range started {
				s.Stop()
			}
			return err
		}
		started = append(started, pg)
		next.groups[gc.Name] = &group{g: pg, proxy: rt.proxyFor(gc.Name, pg)}
	}
	byName := map[string]*route{}
	if old != nil {
		for _, r := range old.routes {
			byName[r.Name] = r
		}
	}
	for _, rc := range t.Routes {
		if prev, ok := byName[rc.Name]; ok && reflect.DeepEqual(prev.Route, rc) {
			next.routes = append(next.routes, prev)
			continue
		}
		next.routes = append(next.routes, rt.compileRoute(rc))
	}
	if rt.started {
		for _, s := range started {
			s.Start()
		}
	}
	rt.cur.Store(next)
	rt.m.routes.Set(float64(len(next.routes)))
	if old != nil {
		rt.retire(old, next)
	}
	rt.log.Info("route table in force", "routes", len(next.routes), "groups", len(next.groups))
	return nil
}

// retire stops the groups of old that next no longer uses and forgets the metrics of routes
// and groups that are gone. A request still in flight on a stopped group finishes: stopping
// ends health checks and idle connections, not requests.
func (rt *Router) retire(old, next *compiled) {
	for name, g := range old.groups {
		if ng, ok := next.groups[name]; ok && ng == g {
			continue
		}
		g.g.Stop()
		if _, ok := next.groups[name]; !ok {
			rt.pm.Forget(name, g.g.Config().Addrs)
		}
	}
	keep := map[string]bool{}
	for _, r := range next.routes {
		keep[r.Name] = true
	}
	for _, r := range old.routes {
		if !keep[r.Name] {
			rt.m.forget(r.Name)
		}
	}
}

// Start starts the health checks of the groups; tables swapped in later start their own.
func (rt *Router) Start() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.started || rt.stopped {
		return
	}
	rt.started = true
	for _, g := range rt.cur.Load().groups {
		g.g.Start()
	}
}

// Stop stops every group's health checks; no table can be swapped in afterwards.
func (rt *Router) Stop() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.stopped = true
	if c := rt.cur.Load(); c != nil {
		for _, g := range c.groups {
			g.g.Stop()
		}
	}
}

func (rt *Router) compileRoute(rc Route) *route {
	pat, _ := NewPattern(rc.Match) // validated
	r := &route{Route: rc, pat: pat, when: compileConds(rc.When), timeout: rc.timeout(rt.deps.Timeout),
		counts: rt.m.route(rc.Name)}
	for _, rw := range rc.Rewrite {
		r.rewrites = append(r.rewrites, rewrite{Rewrite: rw, when: compileConds(rw.When)})
	}
	if rc.Cache != nil {
		r.cache = newStore(*rc.Cache)
	}
	if rc.Breaker.Failures != -1 {
		failures := uint32(rc.Breaker.Failures)
		if failures == 0 {
			failures = 5
		}
		openFor := time.Duration(rc.Breaker.OpenFor)
		if openFor == 0 {
			openFor = 10 * time.Second
		}
		gauge := r.counts.open
		r.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        rc.Name,
			MaxRequests: 1,
			Timeout:     openFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			// A caller that went away says nothing about the upstream.
			IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				rt.log.Warn("route circuit changed", "route", name, "from", from.String(), "to", to.String())
				if to == gobreaker.StateOpen {
					gauge.Set(1)
				} else {
					gauge.Set(0)
				}
			},
		})
	}
	if rc.Elastic != "" {
		// A burst of a twentieth of a second: the split stays within a few percent of the
		// threshold even over short windows.
		r.overflow = rate.NewLimiter(rate.Limit(rc.OverflowQPS), max(1, int(rc.OverflowQPS/20)))
	}
	return r
}

// Handler serves the table's routes and sends every other request to local.
func (rt *Router) Handler(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := rt.cur.Load()
		for _, ro := range c.routes {
			if ro.pat.Match(r) && allHold(ro.when, r) {
				ro.pat.Bind(r)
				rt.serve(c, ro, local, w, r)
				return
			}
		}
		local.ServeHTTP(w, r)
	})
}

// Lean reports whether the table in force sends r to an upstream group the lean proxy serves
// (plain http:// addresses): the requests the gateway's fast lane takes.
func (rt *Router) Lean(r *http.Request) bool {
	c := rt.cur.Load()
	for _, ro := range c.routes {
		if ro.pat.Match(r) && allHold(ro.when, r) {
			if ro.Upstream == Local {
				return false
			}
			g, ok := c.groups[ro.Upstream]
			if !ok {
				return false
			}
			lp, ok := g.proxy.(*leanProxy)
			return ok && lp.takes(r)
		}
	}
	return false
}

// Status is the table in force with the state of its groups and routes, for the admin API.
type Status struct {
	Table  Table                        `json:"table"`
	Groups map[string][]pool.AddrStatus `json:"groups"`
	Open   []string                     `json:"open_circuits"` // routes whose circuit is open
}

// Status reports the table in force and its state.
func (rt *Router) Status() Status {
	c := rt.cur.Load()
	st := Status{Table: c.src, Groups: map[string][]pool.AddrStatus{}, Open: []string{}}
	for name, g := range c.groups {
		st.Groups[name] = g.g.Status()
	}
	for _, r := range c.routes {
		if r.breaker != nil && r.breaker.State() == gobreaker.StateOpen {
			st.Open = append(st.Open, r.Name)
		}
	}
	return st
}
