package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// echo reads a JSON body, so a body that never arrives keeps its handler reading.
type echo struct{}

func (echo) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/echo", httpx.Handle(obs.Discard(), func(w http.ResponseWriter, r *http.Request) error {
		var v struct {
			S string `json:"s"`
		}
		if err := httpx.Decode(w, r, &v); err != nil {
			return err
		}
		return httpx.OK(w, v)
	}))
}

func edgeConfig() Config {
	return Config{HTTPAddr: "127.0.0.1:0", ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute, RequestTimeout: time.Minute, ShutdownTimeout: 5 * time.Second,
		Lane: true, Loop: true}
}

func startGateway(t *testing.T, cfg Config, deps Deps) (*Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if deps.Logger == nil {
		deps.Logger = obs.Discard()
	}
	deps.Registry, deps.Gatherer = reg, reg
	deps.Routes = append(deps.Routes, route{}, echo{})
	g, err := New(cfg, deps)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	t.Cleanup(func() { _ = g.Stop(context.Background()) })
	return g, reg
}

func dialFrom(t testing.TB, addr net.Addr, from string) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWithin reports whether the server closes c (EOF or reset, after any response bytes)
// before d passes.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

func healthz(t *testing.T, addr net.Addr, from string) time.Duration {
	t.Helper()
	c := dialFrom(t, addr, from)
	start := time.Now()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return time.Since(start)
}

// 2,000 idle connections from one address: the per-IP cap admits the first ones and refuses
// the rest at accept, and another address still gets /healthz at once.
func TestIdleConnectionsPerIPAreCapped(t *testing.T) {
	const n, perIP = 2000, 100
	cfg := edgeConfig()
	cfg.MaxConnsPerIP = perIP
	g, reg := startGateway(t, cfg, Deps{Conns: connlimit.NewTotal(5000)})
	conns := make([]net.Conn, 0, n)
	for range n {
		conns = append(conns, dialFrom(t, g.Addr(), "127.0.0.1"))
	}
	require.Less(t, healthz(t, g.Addr(), "127.0.0.2"), 2*time.Second)
	refused := func() float64 {
		return counter(t, reg, "zhibo_conn_refused_total", map[string]string{"listener": "gateway", "reason": connlimit.ReasonPerIP})
	}
	require.Eventually(t, func() bool { return refused() == n-perIP }, 20*time.Second, 20*time.Millisecond,
		"refused %v of %d", refused(), n-perIP)
	open := 0
	for _, c := range conns[:perIP] {
		if !closedWithin(c, 10*time.Millisecond) {
			open++
		}
	}
	require.Equal(t, perIP, open, "the first connections stay admitted")
	require.True(t, closedWithin(conns[n-1], 5*time.Second), "an over-limit connection is closed")
}

// The process total counts every listener and refuses before descriptors run out.
func TestTotalCapRefusesAndReleases(t *testing.T) {
	total := connlimit.NewTotal(20)
	g, reg := startGateway(t, edgeConfig(), Deps{Conns: total})
	conns := []net.Conn{}
	for range 25 {
		conns = append(conns, dialFrom(t, g.Addr(), "127.0.0.1"))
	}
	require.Eventually(t, func() bool {
		return counter(t, reg, "zhibo_conn_refused_total", map[string]string{"listener": "gateway", "reason": connlimit.ReasonTotal}) == 5
	}, 10*time.Second, 20*time.Millisecond)
	for _, c := range conns[:20] {
		_ = c.Close()
	}
	require.Eventually(t, func() bool { return total.Open() == 0 }, 10*time.Second, 20*time.Millisecond)
	require.Less(t, healthz(t, g.Addr(), "127.0.0.1"), 2*time.Second)
}

// A request whose headers never finish, a body promised and never sent, and an idle keep-alive
// connection are each closed by their timeout.
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := edgeConfig()
	cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.IdleTimeout = 300*time.Millisecond, 600*time.Millisecond, 600*time.Millisecond
	g, _ := startGateway(t, cfg, Deps{})

	half := dialFrom(t, g.Addr(), "127.0.0.1")
	_, err := fmt.Fprint(half, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	require.NoError(t, err)

	body := dialFrom(t, g.Addr(), "127.0.0.1")
	_, err = fmt.Fprint(body, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"s\":\"0123")
	require.NoError(t, err)

	idle := dialFrom(t, g.Addr(), "127.0.0.1")
	_, err = fmt.Fprint(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	for name, c := range map[string]net.Conn{"half-sent headers": half, "missing body": body, "idle keep-alive": idle} {
		require.True(t, closedWithin(c, 5*time.Second), "%s connection still open", name)
	}
}

// A WebSocket is hijacked: the server's read and write timeouts stop applying to it, and its
// slot comes back when the handler closes it.
func TestHijackedConnectionsOutliveServerTimeouts(t *testing.T) {
	cfg := edgeConfig()
	cfg.ReadTimeout, cfg.WriteTimeout, cfg.RequestTimeout = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
	total := connlimit.NewTotal(100)
	sub := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
		_ = rw.Flush()
		line, err := rw.ReadString('\n') // the client waits past both timeouts before sending
		if err != nil {
			return
		}
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	})
	g, _ := startGateway(t, cfg, Deps{Sub: sub, Conns: total})
	c := dialFrom(t, g.Addr(), "127.0.0.1")
	_, err := fmt.Fprint(c, "GET /sub HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "101")
	wait := time.NewTimer(600 * time.Millisecond) // longer than read and write timeouts by design
	<-wait.C
	_, err = fmt.Fprint(c, "hello\n")
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(rest), "echo hello\n"), "%q", rest)
	require.Eventually(t, func() bool { return total.Open() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// counter is the value of the counter name{labels}, 0 when absent.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					match++
				}
			}
			if match == len(labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// With metrics_addr set, /metrics and pprof live there and neither is on the public port;
// without it, /metrics stays on the public port (the bench scrapes it) and pprof is nowhere.
func TestMetricsAddrMovesMetricsOffThePublicPort(t *testing.T) {
	cfg := edgeConfig()
	g, _ := startGateway(t, cfg, Deps{})
	public := "http://" + g.Addr().String()
	code, _ := get(t, public+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get(t, public+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "zhibo_http_requests_total")
	code, _ = get(t, public+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code)
	require.Nil(t, g.MetricsAddr())

	cfg.MetricsAddr = "127.0.0.1:0"
	g, _ = startGateway(t, cfg, Deps{})
	public = "http://" + g.Addr().String()
	require.NotNil(t, g.MetricsAddr())
	internal := "http://" + g.MetricsAddr().String()
	code, body = get(t, internal+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "zhibo_conn_open")
	code, body = get(t, internal+"/debug/pprof/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "goroutine")
	code, _ = get(t, internal+"/debug/pprof/goroutine?debug=1")
	require.Equal(t, http.StatusOK, code)
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
		code, body = get(t, public+p)
		require.Equal(t, http.StatusNotFound, code, "%s on the public port", p)
		require.NotContains(t, body, "zhibo_http_requests_total")
	}
}
