package gateway

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"

	"github.com/prometheus/client_golang/prometheus"
)

// shedder is the adaptive limit (gateway.adaptive): a BBR limiter that, while the process's CPU
// use is over the threshold, refuses a request when more are in flight than the node has shown
// it can serve (the most requests passed in one bucket × the least latency), so an overloaded
// node answers 503 at once instead of queueing work it cannot finish. Off, it costs one atomic
// load per request.
type shedder struct {
	bbr  atomic.Pointer[bbr] // nil: off
	shed prometheus.Counter
}

// set turns the limiter on with a fresh one (on) or off.
func (s *shedder) set(on bool, cpuThreshold int64) {
	if !on {
		s.bbr.Store(nil)
		return
	}
	s.bbr.Store(newBBR(cpuThreshold, processCPU))
}

// neverShed are the requests the adaptive limit neither refuses nor counts: health checks, so
// an overloaded node is not also taken for a dead one; metrics, so it can be seen; and the
// long-lived /sub WebSockets and HTTP-FLV streams (/live/), whose life is no request latency.
func neverShed(p string) bool {
	return p == "/healthz" || p == "/readyz" || p == "/metrics" || p == "/sub" ||
		strings.HasPrefix(p, "/debug/") || strings.HasPrefix(p, "/live/")
}

func shed(s *shedder, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := s.bbr.Load()
		if l == nil || neverShed(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		done, ok := l.allow()
		if !ok {
			s.shed.Inc()
			w.Header().Set("Retry-After", "1")
			refuse(w, errOverloaded.Status, errOverloaded.Code, errOverloaded.Message, reasonOverloaded, "")
			return
		}
		defer httpx.After(w, done) // the request's latency, to its answer's end
		next.ServeHTTP(w, r)
	})
}
