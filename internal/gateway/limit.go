package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
)

// limitPerIP is the gateway's default rate limit: a token bucket per client IP over the API
// routes (/api and /xlive); 429 with Retry-After and reason ip_limit above it. l allows
// everything while rate_per_ip is 0, and Reload changes its rate.
func limitPerIP(l *ratelimit.Keyed[string], limited *prometheus.CounterVec, next http.Handler) http.Handler {
	counter := limited.WithLabelValues(rateRule, ScopeIP)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/xlive/") {
			if ok, wait := l.Allow(httpx.ClientIP(r), time.Now()); !ok {
				counter.Inc()
				refuseLimited(w, &refusal{reason: reasonIP, rule: rateRule, wait: wait})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Reload applies the settings of cfg that LiveKeys names to the running gateway, for the next
// request: the per-IP rate and burst, the per-route limits, the deny lists, the velocity
// rules, the route table and its groups (unless an operator's table is in force) and adaptive shedding (a change of
// either adaptive setting starts its statistics afresh). The other settings are those it
// started with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := s.limits.reload(cfg.Limits); err != nil {
		return err
	}
	if err := s.risk.reload(cfg); err != nil {
		return err
	}
	if err := s.routes.configChanged(cfg.Table()); err != nil {
		return err
	}
	s.ipLimit.SetLimit(cfg.RatePerIP, cfg.BurstPerIP, time.Now())
	if cfg.Adaptive != s.cfg.Adaptive || cfg.AdaptiveCPUThreshold != s.cfg.AdaptiveCPUThreshold {
		s.shed.set(cfg.Adaptive, cfg.AdaptiveCPUThreshold)
	}
	s.cfg.Adaptive, s.cfg.AdaptiveCPUThreshold = cfg.Adaptive, cfg.AdaptiveCPUThreshold
	return nil
}
