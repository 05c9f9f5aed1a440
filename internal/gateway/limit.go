package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
)

// limitPerIP is the gateway's local rate limit: a token bucket per client IP over the API
// routes (/api and /xlive); 429 with Retry-After above it. l allows everything while
// rate_per_ip is 0, and Reload changes its rate.
func limitPerIP(l *ratelimit.Keyed[string], next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/xlive/") {
			ip := httpx.ClientIP(r)
			if ok, wait := l.Allow(ip, time.Now()); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
				httpx.WriteError(obs.Discard(), w, r, apierr.TooMany.Withf("too many requests from this address, slow down"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Reload applies the settings of cfg that LiveKeys names to the running gateway: the per-IP
// rate and burst, for the next request. The other settings are those it started with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.ipLimit.SetLimit(cfg.RatePerIP, cfg.BurstPerIP, time.Now())
	return nil
}
