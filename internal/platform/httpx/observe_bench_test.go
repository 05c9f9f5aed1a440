package httpx

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkObservedRequest is what TrustProxies, Observe and Identify's state cost a request
// around a handler that writes nothing: the trace, the route's metrics and the context.
func BenchmarkObservedRequest(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench/", func(http.ResponseWriter, *http.Request) {})
	p, _ := ParseProxies(nil)
	h := TrustProxies(p, Observe(slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()), mux))
	r := httptest.NewRequest(http.MethodGet, "/bench/ping", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
