package pool

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Request results, the values of the result label of zhibo_gateway_upstream_requests_total.
const (
	resultOK    = "ok"
	resultError = "error" // transport error: no response
	result5xx   = "5xx"
)

// Retry results, the values of the result label of zhibo_gateway_upstream_retries_total.
const (
	retrySent      = "sent"
	retryExhausted = "budget_exhausted"
)

// Metrics of every group of one gateway. Label values come from the config (group names and
// addresses) or fixed sets, never from requests. Build it once per gateway and share it
// between the groups, including those a reload replaces.
type Metrics struct {
	requests  *prometheus.CounterVec // group, addr, result
	retries   *prometheus.CounterVec // group, result
	ejections *prometheus.CounterVec // group, addr
	up        *prometheus.GaugeVec   // group, addr
	inFlight  *prometheus.GaugeVec   // group, addr
}

// NewMetrics registers the upstream metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_upstream_requests_total",
			Help: "Attempts sent to an upstream address (retries included), by group, address and result (ok, error: no response, 5xx)."},
			[]string{"group", "addr", "result"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_upstream_retries_total",
			Help: "Retries of idempotent requests by group: sent, or budget_exhausted when the retry budget refused one."},
			[]string{"group", "result"}),
		ejections: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_upstream_ejections_total",
			Help: "Times an upstream address was ejected for consecutive failures of live traffic."},
			[]string{"group", "addr"}),
		up: f.NewGaugeVec(prometheus.GaugeOpts{Name: "zhibo_gateway_upstream_up",
			Help: "1 when an upstream address is up by health checks and not ejected, else 0."},
			[]string{"group", "addr"}),
		inFlight: f.NewGaugeVec(prometheus.GaugeOpts{Name: "zhibo_gateway_upstream_in_flight",
			Help: "Requests sent to an upstream address whose response body is not yet closed."},
			[]string{"group", "addr"}),
	}
}

// Forget deletes the series of addrs in group, for addresses a reload removed. With addrs nil
// it deletes every series of the group, retries included, for a group a reload removed. Call
// it after the Group that used them is stopped and before a Group of the same name starts
// with any of them again.
func (m *Metrics) Forget(group string, addrs []string) {
	if addrs == nil {
		match := prometheus.Labels{"group": group}
		m.requests.DeletePartialMatch(match)
		m.retries.DeletePartialMatch(match)
		m.ejections.DeletePartialMatch(match)
		m.up.DeletePartialMatch(match)
		m.inFlight.DeletePartialMatch(match)
		return
	}
	for _, a := range addrs {
		match := prometheus.Labels{"group": group, "addr": a}
		m.requests.DeletePartialMatch(match)
		m.ejections.DeletePartialMatch(match)
		m.up.DeletePartialMatch(match)
		m.inFlight.DeletePartialMatch(match)
	}
}

// addrMetrics are one address's series, looked up once.
type addrMetrics struct {
	ok, failed, status5xx prometheus.Counter
	ejections             prometheus.Counter
	up, inFlight          prometheus.Gauge
}

func (m *Metrics) forAddr(group, addr string) addrMetrics {
	return addrMetrics{
		ok:        m.requests.WithLabelValues(group, addr, resultOK),
		failed:    m.requests.WithLabelValues(group, addr, resultError),
		status5xx: m.requests.WithLabelValues(group, addr, result5xx),
		ejections: m.ejections.WithLabelValues(group, addr),
		up:        m.up.WithLabelValues(group, addr),
		inFlight:  m.inFlight.WithLabelValues(group, addr),
	}
}
