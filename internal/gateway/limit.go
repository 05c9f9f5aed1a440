package gateway

import (
	"hash/maphash"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// ipLimiter is the gateway's local rate limit: a token bucket per client IP, in shards so
// concurrent requests rarely share a lock, with idle buckets swept so memory stays bounded.
type ipLimiter struct {
	rate   rate.Limit
	burst  int
	seed   maphash.Seed
	shards [64]limShard
}

type limShard struct {
	mu sync.Mutex
	m  map[string]*limEntry
}

type limEntry struct {
	l    *rate.Limiter
	seen time.Time
}

const limitIdle = 5 * time.Minute

func newIPLimiter(r float64, burst int) *ipLimiter {
	l := &ipLimiter{rate: rate.Limit(r), burst: burst, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = map[string]*limEntry{}
	}
	return l
}

func (l *ipLimiter) allow(ip string, now time.Time) bool {
	sh := &l.shards[maphash.String(l.seed, ip)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[ip]
	if e == nil {
		if len(sh.m) > 4096 { // sweep idle entries before growing
			for k, v := range sh.m {
				if now.Sub(v.seen) > limitIdle {
					delete(sh.m, k)
				}
			}
		}
		e = &limEntry{l: rate.NewLimiter(l.rate, l.burst)}
		sh.m[ip] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}

// limit answers 429 to an IP over its rate; only /api and /xlive routes are limited.
func (l *ipLimiter) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) >= 5 && (p[:5] == "/api/" || p[:5] == "/xliv") {
			ip, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				ip = r.RemoteAddr
			}
			if !l.allow(ip, time.Now()) {
				w.Header().Set("Retry-After", "1")
				httpx.WriteError(obs.Discard(), w, r, apierr.TooMany.Withf("too many requests from this address, slow down"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
