package table

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics of the route table; every label value is a route name of the table in force (at
// most maxRoutes) or comes from a fixed set.
type metrics struct {
	routes   prometheus.Gauge
	requests *prometheus.CounterVec // route, pool
	degraded *prometheus.CounterVec // route, reason
	cacheRes *prometheus.CounterVec // route, result
	open     *prometheus.GaugeVec   // route
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		routes: f.NewGauge(prometheus.GaugeOpts{Name: "zhibo_gateway_table_routes",
			Help: "Routes of the gateway's route table in force."}),
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_route_requests_total",
			Help: "Requests a route sent on, by route and pool: fixed (its upstream) or elastic (over its overflow_qps, marked)."}, []string{"route", "pool"}),
		degraded: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_route_degraded_total",
			Help: "Requests a route answered degraded, by route and reason (switched_off, circuit_open, timeout, upstream_error, no_upstream)."}, []string{"route", "reason"}),
		cacheRes: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_route_cache_total",
			Help: "Cache lookups of routes with a cache, by route and result (hit, miss, stale, fallback)."}, []string{"route", "result"}),
		open: f.NewGaugeVec(prometheus.GaugeOpts{Name: "zhibo_gateway_route_circuit_open",
			Help: "1 while a route's circuit is open (no request reaches its upstream), else 0."}, []string{"route"}),
	}
}

// routeCounters are one route's series, looked up once per compile.
type routeCounters struct {
	m       *metrics
	name    string
	fixed   prometheus.Counter
	elastic prometheus.Counter
	open    prometheus.Gauge
}

func (m *metrics) route(name string) routeCounters {
	return routeCounters{m: m, name: name, fixed: m.requests.WithLabelValues(name, "fixed"),
		elastic: m.requests.WithLabelValues(name, "elastic"), open: m.open.WithLabelValues(name)}
}

func (c routeCounters) sent(marked bool) {
	if marked {
		c.elastic.Inc()
	} else {
		c.fixed.Inc()
	}
}

func (c routeCounters) degraded(reason string) { c.m.degraded.WithLabelValues(c.name, reason).Inc() }
func (c routeCounters) cache(result string)    { c.m.cacheRes.WithLabelValues(c.name, result).Inc() }

// forget drops the series of a route no longer in the table.
func (m *metrics) forget(name string) {
	l := prometheus.Labels{"route": name}
	m.requests.DeletePartialMatch(l)
	m.degraded.DeletePartialMatch(l)
	m.cacheRes.DeletePartialMatch(l)
	m.open.DeletePartialMatch(l)
}
