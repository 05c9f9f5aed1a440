package lane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
)

// served says which server answered: the lane or the fallback.
const servedBy = "X-Served-By"

type env struct {
	addr string
	srv  *Server
	m    *Metrics
}

// start serves handler in a lane that takes paths under /lane/; the fallback serves the same
// handler, marking its answers.
func start(t *testing.T, handler http.HandlerFunc, opts ...func(*Server)) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := NewMetrics(prometheus.NewRegistry())
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(servedBy, "lane")
			handler(w, r)
		}),
		Takes: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/lane/") },
		Fallback: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(servedBy, "fallback")
			handler(w, r)
		}), MaxHeaderBytes: 8 << 10},
		ReadHeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaxHeaderBytes: 8 << 10, Metrics: m,
	}
	for _, o := range opts {
		o(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return &env{addr: ln.Addr().String(), srv: s, m: m}
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
}

// dial opens a raw connection with a reader of its answers.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func read(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestKeepAliveRequestsStayInTheLane(t *testing.T) {
	e := start(t, echo)
	c, br := dial(t, e.addr)
	for i := range 3 {
		_, err := fmt.Fprintf(c, "POST /lane/%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", i)
		require.NoError(t, err)
		resp, body := read(t, br, "POST")
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "lane", resp.Header.Get(servedBy))
		require.Equal(t, fmt.Sprintf("POST /lane/%d abc", i), body)
		require.EqualValues(t, len(body), resp.ContentLength, "a short answer gets its length")
		require.NotEmpty(t, resp.Header.Get("Date"))
	}
	require.EqualValues(t, 3, testutil.ToFloat64(e.m.served))
}

// A request the lane does not take moves the connection, with the bytes already read (its
// head, its body, a pipelined request after it), to the full server for good.
func TestOtherRequestsHandTheConnectionOver(t *testing.T) {
	e := start(t, echo)
	c, br := dial(t, e.addr)
	_, err := io.WriteString(c, "GET /lane/a HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"+
		"GET /lane/b HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, body := read(t, br, "GET")
	require.Equal(t, "lane", resp.Header.Get(servedBy))
	require.Equal(t, "GET /lane/a ", body)
	resp, body = read(t, br, "POST")
	require.Equal(t, "fallback", resp.Header.Get(servedBy))
	require.Equal(t, "POST /other body", body)
	resp, body = read(t, br, "GET")
	require.Equal(t, "fallback", resp.Header.Get(servedBy), "the connection stays with the full server")
	require.Equal(t, "GET /lane/b ", body)
	require.EqualValues(t, 1, testutil.ToFloat64(e.m.handoffs.WithLabelValues(reasonRequest)))
}

func TestUpgradesChunkedBodiesAndHTTP10AreHandedOver(t *testing.T) {
	e := start(t, echo)
	for name, req := range map[string]string{
		"upgrade": "GET /lane/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"chunked": "POST /lane/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
		"http10":  "GET /lane/old HTTP/1.0\r\nHost: x\r\n\r\n",
		"expect":  "POST /lane/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
	} {
		t.Run(name, func(t *testing.T) {
			c, br := dial(t, e.addr)
			_, err := io.WriteString(c, req)
			require.NoError(t, err)
			resp, _ := read(t, br, "GET")
			if resp.StatusCode == http.StatusContinue {
				resp, _ = read(t, br, "POST")
			}
			require.Equal(t, "fallback", resp.Header.Get(servedBy))
		})
	}
}

// Smuggling: a request with both Content-Length and Transfer-Encoding never reaches the lane,
// and what the full server makes of it does not let a second request hide in the body.
func TestConflictingFramingIsNotServedInTheLane(t *testing.T) {
	e := start(t, echo)
	c, br := dial(t, e.addr)
	_, err := io.WriteString(c, "POST /lane/s HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /lane/hidden HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, _ := read(t, br, "POST")
	require.Equal(t, "fallback", resp.Header.Get(servedBy))
	require.Zero(t, testutil.ToFloat64(e.m.served))
}

func TestOversizedHeadIsAnswered431ByTheFullServer(t *testing.T) {
	e := start(t, echo)
	c, br := dial(t, e.addr)
	_, err := fmt.Fprintf(c, "GET /lane/big HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 20<<10))
	require.NoError(t, err)
	resp, _ := read(t, br, "GET")
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

func TestH2CPrefaceIsHandedOver(t *testing.T) {
	e := start(t, echo)
	c, br := dial(t, e.addr)
	_, err := c.Write(http2Preface)
	require.NoError(t, err)
	// The full server here speaks no h2c: it answers the preface as a bad HTTP/1 request.
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "HTTP/1.1 ")
	require.EqualValues(t, 1, testutil.ToFloat64(e.m.handoffs.WithLabelValues(reasonHTTP2)))
}

func TestPipelinedAnswersComeInOrder(t *testing.T) {
	e := start(t, echo)
	c, br := dial(t, e.addr)
	var reqs strings.Builder
	for i := range 10 {
		fmt.Fprintf(&reqs, "GET /lane/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	_, err := io.WriteString(c, reqs.String())
	require.NoError(t, err)
	for i := range 10 {
		_, body := read(t, br, "GET")
		require.Equal(t, fmt.Sprintf("GET /lane/%d ", i), body)
	}
}

func TestAnswerFraming(t *testing.T) {
	e := start(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/lane/big": // longer than what is held: chunked
			_, _ = io.WriteString(w, strings.Repeat("b", 3*heldMax))
		case "/lane/length":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "fives")
		case "/lane/flush":
			_, _ = io.WriteString(w, "part1 ")
			http.NewResponseController(w).Flush()
			_, _ = io.WriteString(w, "part2")
		case "/lane/nocontent":
			w.WriteHeader(http.StatusNoContent)
			_, _ = io.WriteString(w, "dropped")
		case "/lane/short": // promises more than it writes: the client must see it cut
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "abc")
		case "/lane/inject":
			w.Header().Set("X-Value", "a\r\nSet-Cookie: evil=1")
			w.Header()["Bad Name"] = []string{"x"}
		case "/lane/panic":
			panic(http.ErrAbortHandler)
		default:
			echo(w, r)
		}
	})
	c, br := dial(t, e.addr)
	get := func(path, method string) (*http.Response, string) {
		_, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, path)
		require.NoError(t, err)
		return read(t, br, method)
	}
	resp, body := get("/lane/big", "GET")
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	require.Len(t, body, 3*heldMax)
	resp, body = get("/lane/length", "GET")
	require.EqualValues(t, 5, resp.ContentLength)
	require.Equal(t, "fives", body)
	resp, body = get("/lane/flush", "GET")
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	require.Equal(t, "part1 part2", body)
	resp, body = get("/lane/nocontent", "GET")
	require.Equal(t, 204, resp.StatusCode)
	require.Empty(t, body)
	resp, body = get("/lane/x", "HEAD")
	require.EqualValues(t, len("HEAD /lane/x "), resp.ContentLength, "a HEAD gets the length, not the body")
	require.Empty(t, body)
	resp, _ = get("/lane/inject", "GET")
	require.Equal(t, "a  Set-Cookie: evil=1", resp.Header.Get("X-Value"))
	require.Empty(t, resp.Header.Values("Set-Cookie"))

	_, err := io.WriteString(c, "GET /lane/short HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the connection closes under a short answer")

	c2, br2 := dial(t, e.addr)
	_, err = io.WriteString(c2, "GET /lane/panic HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	_, err = http.ReadResponse(br2, nil)
	require.Error(t, err, "an aborted handler closes the connection")
}

func TestSlowHeadIsCutAtReadHeaderTimeout(t *testing.T) {
	e := start(t, echo, func(s *Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
	c, br := dial(t, e.addr)
	_, err := io.WriteString(c, "GET /lane/slow HTTP/1.1\r\nHost: x\r\n")
	require.NoError(t, err)
	start := time.Now()
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
	require.Less(t, time.Since(start), 3*time.Second)
}

// Shutdown lets the request in flight finish and closes idle connections.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/lane/hold" {
				<-release
			}
			_, _ = io.WriteString(w, "done")
		}),
		Takes:    func(*http.Request) bool { return true },
		Fallback: &http.Server{},
	}
	go func() { _ = s.Serve(ln) }()
	idle, ibr := dial(t, ln.Addr().String())
	_, err = io.WriteString(idle, "GET /lane/x HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	read(t, ibr, "GET")
	busy, bbr := dial(t, ln.Addr().String())
	_, err = io.WriteString(busy, "GET /lane/hold HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	_, err = ibr.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the idle connection is closed")
	close(release)
	resp, body := read(t, bbr, "GET")
	require.Equal(t, "done", body)
	require.True(t, resp.Close, "Connection: close")
	require.NoError(t, <-shut)
}

// A Shutdown that comes before Serve has started makes Serve return at once.
func TestShutdownBeforeServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{Handler: http.NotFoundHandler(), Takes: func(*http.Request) bool { return true }, Fallback: &http.Server{}}
	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, s.Serve(ln), http.ErrServerClosed)
	_, err = net.Dial("tcp", ln.Addr().String())
	require.Error(t, err, "the listener is closed")
}

// A connection handed over and hijacked (the /sub WebSocket) is the TCP connection underneath
// for connlimit.Unwrap, so the comet writes to its descriptor directly.
func TestHandedOverConnectionUnwrapsToTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	got := make(chan net.Conn, 1)
	s := &Server{
		Handler: http.NotFoundHandler(),
		Takes:   func(*http.Request) bool { return false },
		Fallback: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			nc, _, err := http.NewResponseController(w).Hijack()
			require.NoError(t, err)
			got <- nc
			_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		})},
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	c, br := dial(t, ln.Addr().String())
	_, err = io.WriteString(c, "GET /sub HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, 101, resp.StatusCode)
	nc := <-got
	defer nc.Close()
	_, isTCP := connlimit.Unwrap(nc).(*net.TCPConn)
	require.True(t, isTCP, "%T", nc)
}
