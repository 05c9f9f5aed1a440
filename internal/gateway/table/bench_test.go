package table

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// BenchmarkProxiedRequest is one GET through a route to a group of one loopback upstream,
// served in process (no client socket): the route table's own cost per request plus the
// upstream round trip, with the lean client and with the ReverseProxy.
func BenchmarkProxiedRequest(b *testing.B) {
	for _, lean := range []bool{true, false} {
		name := "reverseproxy"
		if lean {
			name = "lean"
		}
		b.Run(name, func(b *testing.B) { benchProxied(b, lean) })
	}
}

func benchProxied(b *testing.B, lean bool) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"code":0}`)
	}))
	defer up.Close()
	rt, err := New(Table{Groups: []pool.Config{{Name: "up", Addrs: []string{up.URL}}},
		Routes: []Route{{Name: "r", Match: "GET /bench/", Upstream: "up", Auth: AuthUser}}},
		Deps{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Timeout: 1e9,
			Identity: func(int64) string { return "signed" }, Lean: lean})
	if err != nil {
		b.Fatal(err)
	}
	rt.Start()
	defer rt.Stop()
	h := rt.Handler(http.NotFoundHandler())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/bench/x", nil)
			req = req.WithContext(httpx.WithUID(req.Context(), 7))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}
