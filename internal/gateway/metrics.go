package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// limitMetrics count the requests the gateway's limits refuse. Every label value comes from
// the config (rule names, scopes) or a fixed set (reasons), never from the request.
type limitMetrics struct {
	limited   *prometheus.CounterVec // rule, scope
	shed      prometheus.Counter
	fallbacks prometheus.Counter
	denied    *prometheus.CounterVec // reason
}

func newLimitMetrics(reg prometheus.Registerer) *limitMetrics {
	f := promauto.With(reg)
	m := &limitMetrics{
		limited: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_limited_total",
			Help: "Requests answered 429 by a rate limit, by rule (a gateway.limits or gateway.velocity name, or rate_per_ip) and scope (route, user, ip, velocity)."},
			[]string{"rule", "scope"}),
		shed: f.NewCounter(prometheus.CounterOpts{Name: "zhibo_gateway_shed_total",
			Help: "Requests answered 503 (reason overloaded) by adaptive shedding (gateway.adaptive)."}),
		fallbacks: f.NewCounter(prometheus.CounterOpts{Name: "zhibo_gateway_limit_fallbacks_total",
			Help: "Decisions of shared limit rules taken in this process alone because Redis did not answer in time (or is not reachable)."}),
	}
	m.denied = f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_denied_total",
		Help: "Requests answered 403 by a deny list, by reason (denied_uid, denied_ip, denied_device)."}, []string{"reason"})
	for _, r := range []string{reasonDeniedUID, reasonDeniedIP, reasonDeniedDevice} {
		m.denied.WithLabelValues(r)
	}
	m.limited.WithLabelValues(rateRule, ScopeIP)
	return m
}
