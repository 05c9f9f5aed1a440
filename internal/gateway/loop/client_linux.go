package loop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/epoll"
)

// client is a client's connection on a loop.
type client struct {
	l      *evloop
	fd     int
	data   uint64 // its registration
	events uint32 // what it waits for
	outer  net.Conn
	remote string
	ctx    context.Context

	in  []byte // read and not yet served
	out outBuf // to write
	rw  respWriter

	req      *http.Request // parsed, its body still coming
	headLen  int
	body     reqBody
	busy     bool // a request is being served
	returned bool // the handler of the request being served returned
	aborted  bool // it panicked
	x        exchange
	later    []func() // httpx.After's, for the end of the answer
	requests int

	closeAfter bool // close once the answer in progress is out
	eof        bool // the client closed its side: close once what it sent is answered
	// handoffAfter is the reason of a handoff waiting for the output to go out first ("" =
	// none); handoffBack, whether it is returnable.
	handoffAfter string
	handoffBack  bool
	gone         bool // closed while its answer was in progress: released at the answer's end
	closed       bool
	dirtyMark    bool
	processing   bool

	idleSince time.Time // since the last answer ended
	headStart time.Time // first byte of the head being read
	reqStart  time.Time // the request being served began
	stalled   time.Time // output waiting for the client since
}

const (
	readChunk = 16 << 10
	highWater = 1 << 20 // output held for a client above which the upstream is not read
	lowWater  = 256 << 10
)

func newClient(l *evloop, fd int, outer net.Conn) *client {
	c := &client{l: l, fd: fd, outer: outer, remote: outer.RemoteAddr().String()}
	ctx := context.WithValue(context.Background(), http.ServerContextKey, l.s.Lane.Fallback)
	c.ctx = context.WithValue(ctx, http.LocalAddrContextKey, outer.LocalAddr())
	c.out.c = c
	c.rw.c = c
	c.rw.Writer = lane.NewWriter(&c.out, l.s.shutting.Load, noDeadlines{})
	c.x.c, c.x.l, c.x.heapIdx = c, l, -1
	return c
}

// start registers the connection with its loop.
func (c *client) start() error {
	c.events = unix.EPOLLIN | unix.EPOLLRDHUP
	data, err := c.l.register(c.fd, c.events, c)
	if err != nil {
		return err
	}
	c.data = data
	c.l.clients[c] = struct{}{}
	c.idleSince = time.Now()
	return nil
}

// release closes what a connection that never started holds.
func (c *client) release() {
	_ = unix.Close(c.fd)
	_ = c.outer.Close()
	c.l.s.connClosed()
}

func (c *client) want(events uint32) {
	if c.closed || c.gone || events == c.events {
		return
	}
	c.events = events
	c.l.modify(c.fd, c.data, events)
}

func (c *client) event(ev uint32) {
	if ev&unix.EPOLLOUT != 0 {
		c.flush()
	}
	if c.closed || c.gone {
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.read()
	}
}

func (c *client) read() {
	max := c.l.s.MaxHeaderBytes + c.l.s.MaxBodyBytes + 4096
	if len(c.in) >= max { // a client far ahead of its answers: heard again once they are out
		c.want(c.events &^ (unix.EPOLLIN | unix.EPOLLRDHUP))
		return
	}
	c.in = spare(c.in)
	for {
		n, err := epoll.Read(c.fd, c.in[len(c.in):cap(c.in)])
		switch {
		case n > 0:
			if len(c.in) == 0 && !c.busy && c.req == nil {
				c.headStart = time.Now()
			}
			c.in = c.in[:len(c.in)+n]
			c.process()
			return
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case n == 0 && err == nil: // the client closed its side: what it sent is answered
			c.want(c.events &^ (unix.EPOLLIN | unix.EPOLLRDHUP))
			c.eof = true
			if !c.busy {
				c.process()
			}
			return
		default:
			c.close()
			return
		}
	}
}

// process serves the requests read, one at a time, while none is in progress.
func (c *client) process() {
	if c.processing {
		return
	}
	c.processing = true
	defer func() { c.processing = false }()
	s := c.l.s
	defer func() {
		if c.eof && !c.busy && !c.closed && !c.gone && c.handoffAfter == "" { // nothing more will come: close once out
			c.closeAfter = true
			c.markDirty()
		}
	}()
	for !c.busy && !c.closed && !c.gone && !c.closeAfter && c.handoffAfter == "" && len(c.in) > 0 {
		if c.req == nil {
			if c.requests == 0 && lane.HTTP2(c.in) {
				c.handoff(reasonHTTP2, false)
				return
			}
			n := lane.HeadLen(c.in)
			if n < 0 {
				if len(c.in) >= s.MaxHeaderBytes {
					c.handoff(reasonHead, false)
				}
				return
			}
			if lane.HasUpgrade(c.in[:n]) {
				c.handoff(reasonUpgrade, false)
				return
			}
			req, ok := parseHead(c.in[:n])
			if !ok { // not of the plain kind parseHead takes: net/http's parser
				c.l.hr.Reset(c.in[:n])
				c.l.br.Reset(&c.l.hr)
				var err error
				if req, err = http.ReadRequest(c.l.br); err != nil {
					c.handoff(reasonHead, false)
					return
				}
			}
			switch {
			case len(req.TransferEncoding) > 0 || req.ContentLength > int64(s.MaxBodyBytes):
				c.handoff(reasonBody, false)
				return
			case !lane.Plain(req):
				c.handoff(reasonRequest, false)
				return
			}
			req.RemoteAddr = c.remote
			c.req, c.headLen = req, n
		}
		need := c.headLen + int(c.req.ContentLength)
		if len(c.in) < need {
			return // the body is still coming
		}
		switch s.Takes(c.req) {
		case Lane:
			c.handoff(reasonRequest, false)
			return
		case Wait:
			c.handoff(reasonBlocking, true)
			return
		}
		c.serve(need)
	}
}

// serve serves the parsed request, whose head and body are the first need bytes read.
func (c *client) serve(need int) {
	req := c.req
	c.req = nil
	if req.ContentLength > 0 {
		c.body.b = append(c.body.b[:0], c.in[c.headLen:need]...)
		c.body.r.Reset(c.body.b)
		req.Body = &c.body
	} else {
		req.Body = http.NoBody
	}
	c.in = c.in[:copy(c.in, c.in[need:])]
	req = req.WithContext(c.ctx)
	c.busy, c.returned = true, false
	c.requests++
	c.reqStart = time.Now()
	c.headStart = time.Time{}
	if len(c.in) > 0 {
		c.headStart = c.reqStart // a pipelined request: its head has been here since
	}
	c.rw.Reset(req)
	c.l.s.Metrics.served.Inc()
	c.aborted = !c.run(req)
	c.returned = true
	if !c.x.active {
		c.complete(false)
	}
}

// run calls the handler; a panic ends the connection (http.ErrAbortHandler silently).
func (c *client) run(req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p != http.ErrAbortHandler {
				c.l.s.Log.Error("panic serving request", "remote", c.remote, "path", req.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}
	}()
	c.l.s.Handler.ServeHTTP(&c.rw, req)
	return true
}

// complete ends the answer in progress: cut (its upstream broke off, or its handler
// panicked: what was written goes out, and the closed connection tells the client the answer
// is not whole) or whole.
func (c *client) complete(cut bool) {
	if cut || c.aborted || !c.rw.Finish() || c.rw.Closes() {
		c.closeAfter = true
	}
	later := c.later
	c.later = c.later[:0]
	for _, fn := range later {
		c.runHook(fn)
	}
	clear(later)
	c.busy = false
	c.idleSince = time.Now()
	if c.gone {
		c.finalRelease()
		return
	}
	c.markDirty()
	if c.closeAfter {
		return // closed once the output is out (flush)
	}
	c.listen()
	c.process()
}

func (c *client) runHook(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			c.l.s.Log.Error("panic ending a request", "remote", c.remote, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
		}
	}()
	fn()
}

func (c *client) markDirty() {
	if !c.dirtyMark && !c.closed && !c.gone {
		c.dirtyMark = true
		c.l.dirty = append(c.l.dirty, c)
	}
}

// flush writes the output held; what the client does not take yet waits for EPOLLOUT.
func (c *client) flush() {
	if c.closed || c.gone {
		return
	}
	for c.out.off < len(c.out.b) {
		n, err := epoll.Write(c.fd, c.out.b[c.out.off:])
		if n > 0 {
			c.out.off += n
			c.stalled = time.Time{}
		}
		switch {
		case err == nil:
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if c.stalled.IsZero() {
				c.stalled = time.Now()
			}
			c.want(c.events | unix.EPOLLOUT)
			return
		default:
			c.out.err = os.NewSyscallError("write", err)
			c.close()
			return
		}
	}
	c.out.b, c.out.off = c.out.b[:0], 0
	if cap(c.out.b) > 1<<20 {
		c.out.b = nil // a large answer's buffer is not kept for the next ones
	}
	c.want(c.events &^ unix.EPOLLOUT)
	if c.x.active && c.x.u != nil && c.x.u.paused {
		c.x.u.resume()
	}
	if c.closeAfter && !c.busy {
		c.close()
		return
	}
	if reason := c.handoffAfter; reason != "" && !c.busy {
		c.handoffAfter = ""
		c.handoff(reason, c.handoffBack)
		return
	}
	c.listen()
	if !c.busy && len(c.in) > 0 {
		c.process()
	}
}

// pending is how much output waits for the client.
func (c *client) pending() int { return len(c.out.b) - c.out.off }

// handoff gives the connection to the lane with the bytes read of it; returnable: back to a
// loop once it is idle again. Answers to earlier requests still waiting for the client go
// first (the lane writes straight on): the handoff waits for them, the loop does not.
func (c *client) handoff(reason string, returnable bool) {
	if c.pending() > 0 {
		c.handoffAfter, c.handoffBack = reason, returnable
		return
	}
	s := c.l.s
	c.l.unregister(c.fd, c.data)
	delete(c.l.clients, c)
	c.closed = true
	s.connClosed()
	nc, err := attach(c.fd) // closes c.fd
	if err != nil {
		s.Log.Warn("gateway loop: lost a connection handed to the lane", "err", err)
		_ = c.outer.Close()
		return
	}
	s.Metrics.handoffs.WithLabelValues(reason).Inc()
	s.Lane.ServeConn(&handed{Conn: nc, outer: c.outer}, bytes.Clone(c.in), returnable)
}

// listen reads the client again once what it sent ahead fits in the buffer.
func (c *client) listen() {
	if !c.eof && c.events&unix.EPOLLIN == 0 && len(c.in) < c.l.s.MaxHeaderBytes+c.l.s.MaxBodyBytes+4096 {
		c.want(c.events | unix.EPOLLIN | unix.EPOLLRDHUP)
	}
}

// spare makes room in b for a read of at least a quarter of readChunk.
func spare(b []byte) []byte {
	if cap(b)-len(b) >= readChunk/4 {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+readChunk))
	copy(nb, b)
	return nb
}

// closeIfIdle closes the connection when no request is in progress, else after its answer.
func (c *client) closeIfIdle() {
	if !c.busy && c.pending() == 0 {
		c.close()
		return
	}
	c.closeAfter = true
}

// close ends the connection. One closed while its answer is in progress is released when the
// answer ends (its upstream exchange runs to its end, its output dropped), as on the lane.
func (c *client) close() {
	if c.closed || c.gone {
		return
	}
	c.l.unregister(c.fd, c.data)
	_ = unix.Close(c.fd)
	c.out.b, c.out.off = nil, 0
	if c.busy {
		c.gone = true
		if c.out.err == nil {
			c.out.err = net.ErrClosed
		}
		return
	}
	c.closed = true
	c.finalRelease()
}

// finalRelease forgets the connection and gives its slots back.
func (c *client) finalRelease() {
	c.closed = true
	delete(c.l.clients, c)
	_ = c.outer.Close()
	c.l.s.connClosed()
}

// checkTimeouts closes the connection past one of its timeouts.
func (c *client) checkTimeouts(now time.Time) {
	if c.closed || c.gone {
		return
	}
	s := c.l.s
	switch {
	case c.busy:
		if s.WriteTimeout > 0 && now.Sub(c.reqStart) > s.WriteTimeout {
			c.closeAfter = true
			c.x.fail(os.ErrDeadlineExceeded)
			if c.busy {
				c.close()
			}
		}
	case !c.stalled.IsZero() && s.WriteTimeout > 0 && now.Sub(c.stalled) > s.WriteTimeout:
		c.close()
	case c.req != nil:
		if s.ReadTimeout > 0 && now.Sub(c.headStart) > s.ReadTimeout {
			c.close()
		}
	case len(c.in) > 0:
		if s.ReadHeaderTimeout > 0 && !c.headStart.IsZero() && now.Sub(c.headStart) > s.ReadHeaderTimeout {
			c.close()
		}
	case c.pending() == 0:
		if s.IdleTimeout > 0 && now.Sub(c.idleSince) > s.IdleTimeout {
			c.close()
		}
	}
}

// outBuf is a client's output (lane.Sink): what the Writer writes, appended, and written to
// the socket at the end of the loop's batch or on Flush.
type outBuf struct {
	c   *client
	b   []byte
	off int
	err error // the client's connection failed: writes fail
}

func (o *outBuf) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	o.b = append(o.b, p...)
	o.c.markDirty()
	return len(p), nil
}

func (o *outBuf) WriteString(s string) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	o.b = append(o.b, s...)
	o.c.markDirty()
	return len(s), nil
}

func (o *outBuf) WriteByte(b byte) error {
	if o.err != nil {
		return o.err
	}
	o.b = append(o.b, b)
	o.c.markDirty()
	return nil
}

func (o *outBuf) Flush() error {
	o.c.flush()
	return o.err
}

// respWriter is the handlers' http.ResponseWriter on the loop: the lane's Writer, and the
// loop itself for the lean proxy (pool.Async) and for httpx.After (Later).
type respWriter struct {
	*lane.Writer
	c *client
}

// Later keeps fn for the end of the answer while an exchange for it is in flight.
func (w *respWriter) Later(fn func()) bool {
	if !w.c.x.active {
		return false
	}
	w.c.later = append(w.c.later, fn)
	return true
}

// Exchange starts the request's upstream exchange (pool.Async).
func (w *respWriter) Exchange(g *pool.Group, head, body []byte, deadline time.Time, idempotent bool, h pool.AnswerHandler) {
	w.c.x.start(g, head, body, deadline, idempotent, h)
}

// noDeadlines: the loop bounds reads and writes itself (its timeouts), not per call.
type noDeadlines struct{}

func (noDeadlines) SetReadDeadline(time.Time) error  { return http.ErrNotSupported }
func (noDeadlines) SetWriteDeadline(time.Time) error { return http.ErrNotSupported }

// reqBody is a request body read whole on the loop; Bytes gives it to the lean proxy.
type reqBody struct {
	b []byte
	r bytes.Reader
}

func (b *reqBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *reqBody) Close() error               { return nil }
func (b *reqBody) Bytes() []byte              { return b.b }
