// Package lane is the gateway's fast lane: an HTTP/1.1 server for the requests a gateway
// forwards to upstream groups, cheaper per request than net/http's server.
//
// The lane reads each request with net/http's own parser (http.ReadRequest) and serves it
// through the gateway's usual handler chain — the same limits, identity, route table and
// metrics — but it keeps one goroutine per connection and nothing more: no background read
// per request, one response writer per connection reused for every request, the answer held
// and written with one write call (none while the client has already sent its next request,
// so a pipelining client gets its answers in one write). On a proxy, where each request costs
// the gateway two reads and two writes of its own, net/http's per-request machinery was most
// of what the gateway added (docs/gateway.md, "The forwarding path").
//
// A connection stays in the lane while its requests are ones Takes accepts: plain HTTP/1.1,
// no protocol upgrade, no Expect, no chunked request body. The first request that is not, and
// every connection that starts with the HTTP/2 preface, is handed with the bytes already read
// to the net/http server (Fallback), which serves the connection from then on — the WebSocket
// endpoint, h2c gRPC, the web UI and whatever else needs all of net/http.
package lane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server serves connections in the lane and hands the others to Fallback.
type Server struct {
	Handler http.Handler
	// Takes decides whether a request is served in the lane.
	Takes func(r *http.Request) bool
	// Fallback serves the connections handed over; Serve runs it on a listener of its own.
	Fallback *http.Server
	// Timeouts as net/http's: ReadHeaderTimeout from a request's first byte to the end of its
	// headers, ReadTimeout to the end of its body, WriteTimeout from the end of its headers to
	// the end of the answer, IdleTimeout between requests. 0 = none.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request head (0 = 64 KiB); a larger one is handed over, and
	// net/http answers it 431.
	MaxHeaderBytes int
	Log            *slog.Logger
	Metrics        *Metrics
	// Return, when set, is offered each connection served with ServeConn as returnable
	// once it is idle between requests with nothing read of it; true means it took the
	// connection, which the lane then forgets (the gateway's event loop takes back what it
	// gave the lane only for a request that would have blocked it).
	Return func(nc net.Conn) bool

	mu       sync.Mutex
	ln       net.Listener
	handoff  *chanListener
	conns    map[*conn]struct{}
	shutting atomic.Bool
	wg       sync.WaitGroup
}

// Metrics count the lane's requests and handovers.
type Metrics struct {
	served   prometheus.Counter
	handoffs *prometheus.CounterVec
}

// NewMetrics registers the lane's metrics on reg (nil = nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		served: prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_gateway_lane_requests_total",
			Help: "Requests the gateway served in its fast lane (forwarded to upstream groups)."}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_gateway_lane_handoffs_total",
			Help: "Connections the fast lane handed to the full HTTP server, by reason."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.served, m.handoffs)
	}
	return m
}

// Reasons a connection is handed over.
const (
	reasonHTTP2   = "http2"   // the h2c preface
	reasonRequest = "request" // a request the lane does not serve (Takes, upgrade, chunked, HTTP/1.0)
	reasonHead    = "head"    // a head over MaxHeaderBytes, or one http.ReadRequest refuses
)

// Serve accepts on ln until Shutdown or an accept error, which it returns.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.start(ln.Addr(), ln); err != nil {
		_ = ln.Close()
		return err
	}
	return Accept(ln, s.shutting.Load, func(c net.Conn) {
		lc := newConn(s, c)
		s.mu.Lock()
		if s.shutting.Load() {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[lc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go lc.serve()
	})
}

// Accept gives each connection ln accepts to serve until ln fails: http.ErrServerClosed once
// closing (a shutdown closed it), the error otherwise. A temporary error (too many open
// files) is waited out.
func Accept(ln net.Listener, closing func() bool, serve func(net.Conn)) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if closing() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		serve(c)
	}
}

// start readies the server for connections of a listener at addr (ln, nil when another
// accepts them: Start).
func (s *Server) start(addr net.Addr, ln net.Listener) error {
	if s.Metrics == nil {
		s.Metrics = NewMetrics(nil)
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() { // Shutdown came first
		return http.ErrServerClosed
	}
	s.ln = ln
	s.handoff = newChanListener(addr)
	s.conns = map[*conn]struct{}{}
	go func() { _ = s.Fallback.Serve(s.handoff) }() // ends when Shutdown closes the handoff
	return nil
}

// Start readies the server to serve connections another accepts (ServeConn), of a listener
// at addr.
func (s *Server) Start(addr net.Addr) error { return s.start(addr, nil) }

// ServeConn serves nc, whose first bytes, already read of it, are prefix. When returnable,
// the connection is offered back (Return) once it is idle between requests.
func (s *Server) ServeConn(nc net.Conn, prefix []byte, returnable bool) {
	if len(prefix) > 0 {
		nc = &prefixConn{Conn: nc, prefix: prefix}
	}
	s.mu.Lock()
	if s.shutting.Load() || s.conns == nil {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	lc := newConn(s, nc)
	lc.returnable = returnable
	s.conns[lc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go lc.serve()
}

// Shutdown stops accepting, closes idle connections, lets the requests in flight finish
// (until ctx ends, then closes their connections) and shuts the fallback server down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		err = ctx.Err()
	}
	s.mu.Lock()
	if s.handoff != nil {
		_ = s.handoff.Close() // no connection waits on a fallback server that stopped accepting
	}
	s.mu.Unlock()
	if s.Fallback != nil {
		if ferr := s.Fallback.Shutdown(ctx); ferr != nil && err == nil {
			err = ferr
		}
	}
	return err
}

// conn states
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	ctx    context.Context // of the connection: the server and the local address
	state  atomic.Int32
	saved  []byte // the head of the request being read, for a handover
	// returnable: the connection is offered back to whoever gave it (Server.Return) once
	// it is idle between requests.
	returnable bool
	w          Writer
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc}
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(nc)
	c.bw = writers.Get().(*bufio.Writer)
	c.bw.Reset(nc)
	c.w.out, c.w.closing, c.w.conn = c.bw, c.s.shutting.Load, nc
	return c
}

// served readies what requests served in the lane carry, once per connection: most
// connections handed over (WebSockets) never need it.
func (c *conn) served() {
	if c.ctx != nil {
		return
	}
	c.remote = c.nc.RemoteAddr().String()
	ctx := context.WithValue(context.Background(), http.ServerContextKey, c.s.Fallback)
	c.ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.nc.LocalAddr())
}

func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		_ = c.nc.Close()
	}
}

// done forgets the connection; handedOver leaves it open for the fallback server.
func (c *conn) done(handedOver bool) {
	if !handedOver {
		_ = c.nc.Close()
	}
	// The buffers go back for the next connection: most connections handed over (WebSockets)
	// live long and would keep them for nothing.
	c.br.Reset(nil)
	readers.Put(c.br)
	c.bw.Reset(nil)
	writers.Put(c.bw)
	c.br, c.bw = nil, nil
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	c.s.wg.Done()
}

func (c *conn) serve() {
	handedOver := false
	defer func() { c.done(handedOver) }()
	max := c.s.MaxHeaderBytes
	if max <= 0 {
		max = 64 << 10
	}
	for {
		if c.s.shutting.Load() {
			return
		}
		if c.returnable && c.s.Return != nil && c.br.Buffered() == 0 && c.giveBack() {
			handedOver = true
			return
		}
		setDeadline(c.nc.SetReadDeadline, c.s.IdleTimeout)
		if _, err := c.br.Peek(1); err != nil {
			return // closed, idle too long, or shut down
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return
		}
		start := time.Now()
		c.saved = c.saved[:0]
		n, err := c.headLen(max, start)
		if err != nil {
			if errors.Is(err, errHeadTooBig) {
				handedOver = c.handOver(reasonHead)
			}
			return
		}
		if b, _ := c.br.Peek(min(n, len(http2Preface))); HTTP2(b) {
			handedOver = c.handOver(reasonHTTP2)
			return
		}
		b, _ := c.br.Peek(n)
		if hasUpgrade(b) { // a WebSocket handshake: straight over, not even parsed here
			handedOver = c.handOver(reasonRequest)
			return
		}
		c.saved = append(c.saved[:0], b...)
		req, err := http.ReadRequest(c.br)
		if err != nil {
			handedOver = c.handOver(reasonHead)
			return
		}
		if !c.takes(req) {
			handedOver = c.handOver(reasonRequest)
			return
		}
		if !c.serveOne(req, start) || !c.state.CompareAndSwap(stateActive, stateIdle) {
			return
		}
	}
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

var errHeadTooBig = errors.New("request head too big")

// hasUpgrade reports whether a request head has an Upgrade header line (any case).
func hasUpgrade(head []byte) bool {
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			return false
		}
		head = head[i+1:]
		if len(head) >= 8 && (head[0]|0x20) == 'u' && bytes.EqualFold(head[:8], []byte("upgrade:")) {
			return true
		}
	}
	return false
}

// headLen waits for a whole request head in the read buffer and returns its length; a head
// that did not come whole with its first bytes has until ReadHeaderTimeout from start.
func (c *conn) headLen(max int, start time.Time) (int, error) {
	limit := min(max, c.br.Size())
	armed := false
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		if n := HeadLen(b); n >= 0 {
			return n, nil
		}
		if len(b) >= limit {
			return 0, errHeadTooBig // net/http, with its larger buffer, answers it
		}
		if !armed { // the deadline stands for the rest of the head
			setDeadlineFrom(c.nc.SetReadDeadline, start, c.s.ReadHeaderTimeout)
			armed = true
		}
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return 0, err
		}
	}
}

// Plain reports whether req is one a lane serves at all: HTTP/1.1, no protocol upgrade, no
// Expect, no chunked body. The others go to net/http's server.
func Plain(req *http.Request) bool {
	return req.ProtoMajor == 1 && req.ProtoMinor == 1 && len(req.TransferEncoding) == 0 &&
		req.Header.Get("Upgrade") == "" && req.Header.Get("Expect") == ""
}

// HeadLen is the length of the request head at the start of b, the blank line included, or
// -1 when b does not hold all of it yet.
func HeadLen(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 { // bare LF lines, as net/http accepts
		return i + 2
	}
	return -1
}

// HTTP2 reports whether b, the first bytes of a connection, may be the HTTP/2 preface.
func HTTP2(b []byte) bool {
	b = b[:min(len(b), len(http2Preface))]
	return len(b) >= 3 && bytes.HasPrefix(http2Preface, b)
}

// HasUpgrade reports whether a request head has an Upgrade header line (any case).
func HasUpgrade(head []byte) bool { return hasUpgrade(head) }

// takes reports whether the lane serves req.
func (c *conn) takes(req *http.Request) bool {
	if !Plain(req) {
		return false
	}
	c.served()
	req.RemoteAddr = c.remote
	return c.s.Takes(req)
}

// giveBack offers the idle connection back to the event loop it came from; true: taken.
func (c *conn) giveBack() bool {
	if !c.state.CompareAndSwap(stateIdle, stateClosed) {
		return false
	}
	if c.bw.Flush() == nil && c.s.Return(c.nc) {
		return true
	}
	c.state.Store(stateIdle)
	return false
}

// handOver gives the connection, with the bytes read of it, to the fallback server.
func (c *conn) handOver(reason string) bool {
	if !c.state.CompareAndSwap(stateActive, stateClosed) {
		return false
	}
	if c.bw.Flush() != nil { // the answers the lane gave before this request
		return false
	}
	rest, _ := c.br.Peek(c.br.Buffered())
	prefix := append(c.saved, rest...)
	c.saved = nil
	_ = c.nc.SetDeadline(time.Time{})
	c.s.Metrics.handoffs.WithLabelValues(reason).Inc()
	return c.s.handoff.give(&prefixConn{Conn: c.nc, prefix: prefix})
}

// serveOne serves req; false means the connection is to be closed.
func (c *conn) serveOne(req *http.Request, start time.Time) (keep bool) {
	// The connection's context, with no cancel of its own: every route the lane serves bounds
	// its upstream call with a context of its route's timeout, canceled when it returns, and a
	// cancel here would cost each request a registration with its parent.
	req = req.WithContext(c.ctx)
	if req.ContentLength != 0 { // the body has until ReadTimeout
		setDeadlineFrom(c.nc.SetReadDeadline, start, c.s.ReadTimeout)
	}
	setDeadline(c.nc.SetWriteDeadline, c.s.WriteTimeout)
	w := &c.w
	w.Reset(req)
	c.s.Metrics.served.Inc()
	if !c.run(w, req) {
		return false
	}
	if !w.Finish() {
		_ = c.bw.Flush() // what there is of the answer; the close tells the client it is cut
		return false
	}
	// What the handler left of the body is read so the next request can be, up to a bound.
	if req.Body != nil && req.Body != http.NoBody {
		if n, _ := io.CopyN(io.Discard, req.Body, 256<<10); n == 256<<10 {
			w.close = true
		}
		_ = req.Body.Close()
	}
	if w.close || req.Close || c.s.shutting.Load() {
		_ = c.bw.Flush()
		return false
	}
	if c.br.Buffered() == 0 { // a pipelined request waits: its answer goes in the same write
		if c.bw.Flush() != nil {
			return false
		}
	}
	return true
}

// run calls the handler; a panic closes the connection (http.ErrAbortHandler silently).
func (c *conn) run(w *Writer, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p != http.ErrAbortHandler {
				c.s.Log.Error("panic serving request", "remote", c.remote, "path", req.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			_ = c.bw.Flush() // what the handler wrote before it failed; the answer ends cut
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	return true
}

func setDeadline(set func(time.Time) error, d time.Duration) {
	setDeadlineFrom(set, time.Now(), d)
}

func setDeadlineFrom(set func(time.Time) error, from time.Time, d time.Duration) {
	if d > 0 {
		_ = set(from.Add(d))
	} else {
		_ = set(time.Time{})
	}
}

// prefixConn reads the bytes the lane read of a connection before the connection's own.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		if len(p.prefix) == 0 {
			p.prefix = nil // a WebSocket lives long: its handshake's bytes need not
		}
		return n, nil
	}
	return p.Conn.Read(b)
}

// Transparent is the connection underneath once the bytes the lane read are all read again
// (connlimit.Unwrap): the comet writes a WebSocket's frames to its descriptor directly.
func (p *prefixConn) Transparent() net.Conn {
	if len(p.prefix) > 0 {
		return nil
	}
	return p.Conn
}

// CloseWrite lets net/http end its side first when it refuses a request, so its error answer
// is read before the connection resets.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// chanListener is the fallback server's listener: it accepts the connections handed over.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
