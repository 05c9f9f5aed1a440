//go:build linux

package loop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
)

// rig is a loop server in front of a route table with one route, /r/, to the upstream up; a
// local route /local the loop leaves to the lane; a request with X-Slow stands for one that
// would block the loop.
type rig struct {
	s    *Server
	lane *lane.Server
	addr string
}

func newRig(t *testing.T, up string, timeout time.Duration) *rig {
	t.Helper()
	reg := prometheus.NewRegistry()
	rt, err := table.New(table.Table{Groups: []pool.Config{{Name: "up", Addrs: []string{up}}},
		Routes: []table.Route{{Name: "r", Match: "/r/", Upstream: "up", Timeout: pool.Duration(timeout)}}},
		table.Deps{Logger: slog.New(slog.DiscardHandler), Registry: reg, Timeout: time.Minute, Lean: true})
	require.NoError(t, err)
	rt.Start()
	t.Cleanup(rt.Stop)
	local := http.NewServeMux()
	local.HandleFunc("/local", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "local %s %d", r.Method, len(body))
	})
	h := rt.Handler(local)
	ln := &lane.Server{Handler: h, Takes: rt.Lean, Fallback: &http.Server{Handler: h},
		IdleTimeout: time.Minute, Metrics: lane.NewMetrics(reg)}
	s := &Server{Handler: h, Lane: ln, IdleTimeout: time.Minute, WriteTimeout: time.Minute, Metrics: NewMetrics(reg),
		Takes: func(r *http.Request) Verdict {
			switch {
			case r.Header.Get("X-Slow") != "":
				return Wait
			case rt.Lean(r):
				return Serve
			}
			return Lane
		}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-done
	})
	return &rig{s: s, lane: ln, addr: l.Addr().String()}
}

func (r *rig) served() float64 { return testutil.ToFloat64(r.s.Metrics.served) }
func (r *rig) open() float64   { return testutil.ToFloat64(r.s.Metrics.conns) }
func (r *rig) handoffs(reason string) float64 {
	return testutil.ToFloat64(r.s.Metrics.handoffs.WithLabelValues(reason))
}

// exchange writes raw to a new connection and reads n answers off it.
func roundTrips(t *testing.T, addr, raw string, n int) (net.Conn, []*http.Response, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	return c, readAnswers(t, c, n), nil
}

func readAnswers(t *testing.T, c net.Conn, n int) []*http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, resp)
	}
	return out
}

func body(resp *http.Response) string { b, _ := io.ReadAll(resp.Body); return string(b) }

func echoUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Up", "1")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	t.Cleanup(up.Close)
	return up
}

// Pipelined requests, one with a body, are answered in order on one connection, each
// forwarded on the loop.
func TestLoopForwardsPipelinedRequestsInOrder(t *testing.T) {
	up := echoUpstream(t)
	r := newRig(t, up.URL, time.Minute)
	raw := "GET /r/1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /r/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"HEAD /r/3 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /r/4 HTTP/1.1\r\nHost: x\r\n\r\n"
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i, want := range []string{"GET /r/1 ", "POST /r/2 hello", "", "GET /r/4 "} {
		method := "GET"
		if i == 2 {
			method = "HEAD"
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "1", resp.Header.Get("X-Up"))
		require.Equal(t, want, body(resp), "answer %d", i)
	}
	require.EqualValues(t, 4, r.served())
}

// An answer larger than what the loop holds for a client goes out whole to a client that reads
// slowly, chunked or with its length; the upstream is read as the client takes it.
func TestLoopStreamsLargeAnswersToSlowClients(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/r/length" {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		}
		for p := big; len(p) > 0; p = p[min(len(p), 100<<10):] {
			_, _ = w.Write(p[:min(len(p), 100<<10)])
			w.(http.Flusher).Flush() // chunked without a length
		}
	}))
	defer up.Close()
	r := newRig(t, up.URL, time.Minute)
	for _, path := range []string{"/r/chunked", "/r/length"} {
		c, err := net.Dial("tcp", r.addr)
		require.NoError(t, err)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		time.Sleep(300 * time.Millisecond) // the loop fills what it may hold, then waits
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(&slowReader{r: c}), nil)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, len(big), len(got), path)
		require.True(t, bytes.Equal(big, got), path)
		_ = c.Close()
	}
}

type slowReader struct {
	r io.Reader
	n int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n++; s.n%64 == 0 {
		time.Sleep(time.Millisecond)
	}
	return s.r.Read(p[:min(len(p), 8<<10)])
}

// A kept-alive connection the upstream closed while it was idle is replaced, and the request
// sent again on a new one: the client sees no error.
func TestLoopReplacesConnectionsTheUpstreamClosed(t *testing.T) {
	var conns atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() { // answers one request per connection, keep-alive, then closes it silently
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(50 * time.Millisecond)
			}()
		}
	}()
	r := newRig(t, "http://"+ln.Addr().String(), time.Minute)
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "GET /r/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "ok", body(resp))
		time.Sleep(150 * time.Millisecond) // the upstream has closed the idle connection
	}
	require.EqualValues(t, 3, conns.Load())
}

// An upstream that does not answer within the route's timeout gets the route's degraded
// answer (504) in about that time; one that answers garbage, a degraded 503; the client's
// connection serves on.
func TestLoopDegradesHangingAndGarbageUpstreams(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if strings.HasSuffix(req.URL.Path, "garbage") {
					_, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n")
					return
				}
				<-release
			}()
		}
	}()
	defer close(release)
	r := newRig(t, "http://"+ln.Addr().String(), 200*time.Millisecond)
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	start := time.Now()
	fmt.Fprintf(c, "GET /r/hang HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	took := time.Since(start)
	require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	require.Equal(t, "timeout", resp.Header.Get("X-Zhibo-Degraded"))
	require.GreaterOrEqual(t, took, 190*time.Millisecond)
	require.Less(t, took, 700*time.Millisecond)
	_ = body(resp)
	fmt.Fprintf(c, "GET /r/garbage HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "upstream_error", resp.Header.Get("X-Zhibo-Degraded"))
	require.EqualValues(t, 2, r.served())
}

// What the loop does not serve goes to the lane with the bytes already read: a local route
// for good, a chunked body, a WebSocket handshake; a request that would block it comes back
// to the loop once served.
func TestLoopHandsTheRestToTheLane(t *testing.T) {
	up := echoUpstream(t)
	r := newRig(t, up.URL, time.Minute)

	_, ans, _ := roundTrips(t, r.addr, "GET /local HTTP/1.1\r\nHost: x\r\n\r\nGET /r/after HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	require.Equal(t, "local GET 0", body(ans[0]))
	require.Equal(t, "GET /r/after ", body(ans[1]), "served by the lane, for good")
	require.EqualValues(t, 1, r.handoffs(reasonRequest))
	require.EqualValues(t, 0, r.served())

	// Served on the loop, then the lane's: the answer the loop gave goes out before the lane
	// takes the connection.
	_, ans, _ = roundTrips(t, r.addr, "GET /r/first HTTP/1.1\r\nHost: x\r\n\r\nGET /local HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	require.Equal(t, "GET /r/first ", body(ans[0]))
	require.Equal(t, "local GET 0", body(ans[1]))
	require.EqualValues(t, 1, r.served())
	require.EqualValues(t, 2, r.handoffs(reasonRequest))

	_, ans, _ = roundTrips(t, r.addr, "POST /local HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1)
	require.Equal(t, "local POST 3", body(ans[0]))
	require.EqualValues(t, 1, r.handoffs(reasonBody))

	_, ans, _ = roundTrips(t, r.addr, "GET /local HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 1)
	require.Equal(t, 200, ans[0].StatusCode)
	require.EqualValues(t, 1, r.handoffs(reasonUpgrade))

	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /r/slow HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, "GET /r/slow ", body(resp))
	require.EqualValues(t, 1, r.handoffs(reasonBlocking))
	require.EqualValues(t, 1, r.served(), "the lane served it")
	require.Eventually(t, func() bool { return r.open() == 1 }, 5*time.Second, 10*time.Millisecond, "back on a loop")
	fmt.Fprintf(c, "GET /r/next HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, "GET /r/next ", body(resp))
	require.EqualValues(t, 2, r.served(), "the loop served the next one")
}

// A client that closes its side after sending answers is answered in full, then closed.
func TestLoopAnswersWhatAClientSentBeforeItClosedItsSide(t *testing.T) {
	up := echoUpstream(t)
	r := newRig(t, up.URL, time.Minute)
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /r/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(c)
	require.NoError(t, err, "the connection ends after the answers")
	br := bufio.NewReader(bytes.NewReader(all))
	for _, want := range []string{"GET /r/1 ", "GET /r/2 "} {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, want, body(resp))
	}
	require.Eventually(t, func() bool { return r.open() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// heldRequest is a rig whose upstream answers answer once release is closed, and a
// connection that sent it a request.
func heldRequest(t *testing.T, answer string) (*rig, net.Conn, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(up.Close)
	r := newRig(t, up.URL, time.Minute)
	c, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	fmt.Fprintf(c, "GET /r/x HTTP/1.1\r\nHost: x\r\n\r\n")
	return r, c, release
}

// A client that leaves while its answer is on the way costs nothing after the exchange: the
// connection is released when the upstream's answer ends.
func TestLoopReleasesClientsThatLeave(t *testing.T) {
	r, c, release := heldRequest(t, "late")
	require.Eventually(t, func() bool { return r.open() == 1 }, 5*time.Second, 10*time.Millisecond)
	_ = c.Close()
	time.Sleep(100 * time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { return r.open() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// Shutdown lets a request in progress end, answered, and refuses new connections.
func TestLoopShutdownDrains(t *testing.T) {
	r, c, release := heldRequest(t, "done")
	defer c.Close()
	idle, err := net.Dial("tcp", r.addr)
	require.NoError(t, err)
	defer idle.Close()
	require.Eventually(t, func() bool { return r.open() == 2 }, 5*time.Second, 10*time.Millisecond)
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- r.s.Shutdown(ctx)
	}()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = idle.Read(make([]byte, 1))
	require.Error(t, err, "the idle connection is closed")
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, "done", body(resp))
	require.True(t, resp.Close, "the answer ends the connection: %v", resp.Header)
	require.NoError(t, <-stopped)
	_, err = net.DialTimeout("tcp", r.addr, time.Second)
	require.Error(t, err)
}
