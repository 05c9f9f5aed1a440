package pool

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// backend is an upstream that counts its requests and answers status (200 unless set), and
// health on /healthz (200 unless set).
type backend struct {
	srv    *httptest.Server
	addr   string
	hits   atomic.Int64
	status atomic.Int64
	health atomic.Int64
	host   atomic.Pointer[string] // Host of the last request
	hold   chan struct{}          // when not nil, requests wait for it to close (or the client to leave)
	held   atomic.Int64
}

func newBackend(t testing.TB) *backend {
	t.Helper()
	b := &backend{}
	b.status.Store(http.StatusOK)
	b.health.Store(http.StatusOK)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(b.health.Load()))
			return
		}
		b.hits.Add(1)
		b.host.Store(&r.Host)
		if b.hold != nil {
			b.held.Add(1)
			select {
			case <-b.hold:
			case <-r.Context().Done():
			}
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(int(b.status.Load()))
		_, _ = io.WriteString(w, b.addr)
	}))
	b.addr = b.srv.URL
	t.Cleanup(b.srv.Close)
	return b
}

// closedAddr is an address nothing listens on: dials to it are refused.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

// newGroup builds and starts a group counting into its own registry, stopped at cleanup.
func newGroup(t testing.TB, cfg Config) (*Group, *Metrics) {
	t.Helper()
	return newLoggingGroup(t, cfg, io.Discard)
}

// newLoggingGroup is newGroup logging text to w.
func newLoggingGroup(t testing.TB, cfg Config, w io.Writer) (*Group, *Metrics) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	m := NewMetrics(prometheus.NewRegistry())
	g, err := New(cfg, slog.New(slog.NewTextHandler(w, nil)), m)
	require.NoError(t, err)
	g.Start()
	t.Cleanup(g.Stop)
	return g, m
}

// do sends one request through g as the route table's proxy would: a placeholder URL and the
// client's Host. It returns the status and the answering backend's address (its body).
func do(t testing.TB, g *Group, method string, body io.Reader) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, "http://placeholder.invalid/x", body)
	req.Host = "client.example"
	req.RequestURI = ""
	resp, err := g.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// mustGet sends a GET that must be answered.
func mustGet(t testing.TB, g *Group) (int, string) {
	t.Helper()
	code, from, err := do(t, g, http.MethodGet, nil)
	require.NoError(t, err)
	return code, from
}

// status returns the status of addr in g.
func status(t testing.TB, g *Group, addr string) AddrStatus {
	t.Helper()
	for _, s := range g.Status() {
		if s.Addr == addr {
			return s
		}
	}
	t.Fatalf("no address %s in the group", addr)
	return AddrStatus{}
}

// eventually polls cond every few milliseconds for up to 5 s.
func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 5*time.Millisecond, msg)
}

func ms(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
