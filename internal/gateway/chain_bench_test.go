package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// BenchmarkLoopChain is what a request forwarded on an event loop costs in user space
// besides its socket reads and writes, as `zhibo bench proxy` configures the gateway (a
// route with auth user, a per-user limit): the whole handler chain, the outgoing head, and
// the upstream's answer written for the client — the exchange answered at once, in process.
func BenchmarkLoopChain(b *testing.B) {
	cfg := edgeConfig()
	cfg.Groups = []pool.Config{{Name: "bench", Addrs: []string{"http://127.0.0.1:9"}}}
	cfg.Routes = []table.Route{{Name: "bench", Match: "GET /bench/", Upstream: "bench", Auth: table.AuthUser, Timeout: pool.Duration(5 * time.Second)}}
	cfg.Limits = []LimitRule{{Name: "bench-user", Match: "GET /bench/", Scope: ScopeUser, Rate: 1e6, Burst: 1e6}}
	sig, err := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: reg, Gatherer: reg, Verifier: tokens{}, Identities: sig, IsAdmin: isAdmin})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handler()
	tmpl, err := http.NewRequest("GET", "http://127.0.0.1:8080/bench/ping", nil)
	if err != nil {
		b.Fatal(err)
	}
	tmpl.Header.Set("Authorization", "Bearer u2")
	tmpl.RemoteAddr = "127.0.0.1:40000"
	tmpl.RequestURI = "/bench/ping"
	w := &chainWriter{}
	w.Writer = lane.NewWriter(&w.out, func() bool { return false }, noDeadlines{})
	if err := pool.ParseHead([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Length: 10\r\n\r\n"), &w.answer); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := *tmpl
		req := r.WithContext(ctx)
		w.Reset(req)
		h.ServeHTTP(w, req)
		if !w.Finish() || w.exchanges == 0 {
			b.Fatal("not forwarded")
		}
		w.out.Reset()
		w.exchanges = 0
	}
}

// chainWriter is the event loop's writer for BenchmarkLoopChain: its exchange is answered
// at once.
type chainWriter struct {
	*lane.Writer
	out       sinkBuf
	answer    pool.Head
	exchanges int
}

func (w *chainWriter) Exchange(_ *pool.Group, _, _ []byte, _ time.Time, _ bool, h pool.AnswerHandler) {
	w.exchanges++
	if h.Head(&w.answer) {
		h.Body([]byte(`{"code":0}`))
	}
	h.End(nil)
}

// Later: the answer is whole once Exchange returns.
func (w *chainWriter) Later(func()) bool { return false }

type sinkBuf struct{ b []byte }

func (s *sinkBuf) Write(p []byte) (int, error)       { s.b = append(s.b, p...); return len(p), nil }
func (s *sinkBuf) WriteString(p string) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *sinkBuf) WriteByte(c byte) error            { s.b = append(s.b, c); return nil }
func (s *sinkBuf) Flush() error                      { return nil }
func (s *sinkBuf) Reset()                            { s.b = s.b[:0] }

type noDeadlines struct{}

func (noDeadlines) SetReadDeadline(time.Time) error  { return http.ErrNotSupported }
func (noDeadlines) SetWriteDeadline(time.Time) error { return http.ErrNotSupported }
