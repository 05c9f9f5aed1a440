package pool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The lean HTTP/1.1 client of http:// addresses. The route table forwards its requests with it
// instead of net/http's Transport: the caller writes the request head itself, one write sends
// it, and the answer's head is parsed in place. There is no goroutine per connection and no
// Request, Response or header map per exchange — on a proxy's hot path those were most of
// its cost (docs/gateway.md, "The forwarding path").

const (
	h1MaxIdle     = 256              // idle connections kept per address
	h1IdleTimeout = 90 * time.Second // an idle connection older than this is closed, not reused
	h1MaxHead     = 64 << 10         // the largest answer head accepted
	h1DialTimeout = 3 * time.Second
	h1BodyIdle    = time.Second // the longest idle connection a request with a body reuses
)

// ErrBadAnswer is an upstream answer that is not HTTP/1.x: garbage, or a head over 64 KiB.
var ErrBadAnswer = errors.New("malformed answer")

// h1conn is one kept-alive connection to an address.
type h1conn struct {
	nc    net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	head  []byte // scratch of the request's framing
	h     Head   // the current answer's head
	since time.Time
	used  bool // carried an exchange before this one
}

// Lean reports whether every address of the group is plain http://, which Exchange speaks.
func (g *Group) Lean() bool {
	for _, u := range g.addrs {
		if u.scheme != schemeHTTP || u.h2c {
			return false
		}
	}
	return true
}

// Answer is an upstream's answer to Exchange: the status and header lines as received, and
// the body (Read). Close it when done; a body read to its end lets the connection be reused.
type Answer struct {
	Status int
	// ContentLength is the body's length, -1 when it is chunked or ends with the connection.
	ContentLength int64

	g       *Group
	ctx     context.Context
	u       *upstream
	c       *h1conn
	stop    func() bool // ends the context's hold on the connection
	h       *Head       // the head as parsed, the connection's (reused)
	remain  int64       // of a Content-Length body
	chunked io.Reader   // of a chunked body
	eof     bool        // body read to its end
	reuse   bool        // the connection may carry another exchange once the body is read
	counted bool        // in flight on u until Close
	closed  bool
}

// Exchange sends one request to an address of the group and returns the answer's head. head
// is the request line and header lines, each ending in CRLF, without the blank line and
// without framing: Exchange adds Content-Length (contentLength >= 0 with a body) or chunked
// encoding (contentLength < 0). body is nil for none. A request without a body that failed with
// no answer, or with 502, 503 or 504, is sent again to another address when idempotent and the
// group's retries and budget allow, as RoundTrip does. The context bounds the whole exchange,
// the body's reading included.
func (g *Group) Exchange(ctx context.Context, head []byte, body io.Reader, contentLength int64, idempotent bool) (*Answer, error) {
	retryable := g.budget != nil && idempotent && body == nil
	if g.budget != nil {
		g.budget.request(time.Now())
	}
	a, _, err := retries(g, ctx, retryable, func(u *upstream) (*Answer, int, error) {
		a, err := g.exchange(ctx, u, head, body, contentLength)
		if err != nil {
			return nil, 0, err
		}
		return a, a.Status, nil
	}, func(a *Answer) { a.Close() })
	return a, err
}

// exchange makes one attempt on u, accounted as send accounts for RoundTrip's.
func (g *Group) exchange(ctx context.Context, u *upstream, head []byte, body io.Reader, contentLength int64) (*Answer, error) {
	u.begin()
	a, err := g.exchangeOn(ctx, u, head, body, contentLength)
	if err != nil {
		g.ended(ctx, u, 0, err)
		return nil, err
	}
	a.counted = true
	g.ended(ctx, u, a.Status, nil)
	return a, nil
}

func (g *Group) exchangeOn(ctx context.Context, u *upstream, head []byte, body io.Reader, contentLength int64) (*Answer, error) {
	// A request with a body cannot go again: it takes a connection that was idle for less
	// than a second, when the upstream is unlikely to be closing it, or a new one.
	maxIdle := h1IdleTimeout
	if body != nil {
		maxIdle = h1BodyIdle
	}
	for fresh := false; ; fresh = true {
		if fresh {
			maxIdle = 0
		}
		c, err := u.take(ctx, maxIdle)
		if err != nil {
			return nil, err
		}
		a := &Answer{g: g, ctx: ctx, u: u, c: c}
		// The context's end, by its deadline or a cancel, cuts the connection: no deadline of
		// the connection's own is set, and none needs clearing when it goes back idle.
		if ctx.Done() != nil {
			a.stop = context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
		}
		got, err := a.send(head, body, contentLength)
		if err == nil {
			return a, nil
		}
		a.reuse = false
		a.Close()
		// A kept-alive connection the upstream closed while it was idle fails before any byte
		// of an answer; the request, which had no body, went nowhere: once more, on a new one.
		if c.used && !got && body == nil && !fresh && cut(ctx, err) == err && stale(err) {
			continue
		}
		return nil, cut(ctx, err)
	}
}

// cut gives the context's error for an I/O error the context caused: the connection's
// deadline is the context's, and a context that ends sets it in the past.
func cut(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return err
}

// stale reports whether err is what a connection closed by its peer gives.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// send writes the request and reads the answer's head; got reports whether any byte of an
// answer came.
func (a *Answer) send(head []byte, body io.Reader, contentLength int64) (got bool, err error) {
	c := a.c
	bw := c.bw
	_, _ = bw.Write(head)
	switch {
	case body == nil:
		_, _ = bw.WriteString("\r\n")
	case contentLength >= 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(c.head[:0], contentLength, 10))
		bw.WriteString("\r\n\r\n")
		if _, err := io.CopyN(bw, body, contentLength); err != nil {
			return false, fmt.Errorf("request body: %w", err)
		}
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		if _, err := io.Copy(cw, body); err != nil {
			return false, fmt.Errorf("request body: %w", err)
		}
		_ = cw.Close()
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return false, err
	}
	for {
		got, err = a.readHead(got)
		if err != nil {
			return got, err
		}
		if a.Status >= 200 || a.Status == http.StatusSwitchingProtocols {
			return true, nil
		}
		// 1xx: an interim answer (100 Continue, 103 Early Hints) before the real one.
	}
}

// readHead reads a status line and header lines into a.h.
func (a *Answer) readHead(got bool) (bool, error) {
	c := a.c
	line, err := c.br.ReadSlice('\n')
	if len(line) > 0 {
		got = true
	}
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return got, ErrBadAnswer
		}
		return got, err
	}
	h := &c.h
	a.h = h
	if err := h.statusLine(line); err != nil {
		return got, err
	}
	a.Status = h.Status
	a.remain, a.chunked = 0, nil
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return got, fmt.Errorf("%w: header line over %d bytes", ErrBadAnswer, c.br.Size())
			}
			return got, err
		}
		if len(line) <= 2 && trimLine(line) == nil {
			break
		}
		if err := h.headerLine(line); err != nil {
			return got, err
		}
	}
	noBody, err := h.end()
	if err != nil {
		return got, err
	}
	a.ContentLength, a.reuse = h.ContentLength, h.Reuse
	switch {
	case noBody:
		a.eof = true
	case h.Chunked:
		a.chunked = httputil.NewChunkedReader(c.br)
	case a.ContentLength >= 0:
		a.remain = a.ContentLength
		a.eof = a.remain == 0
	}
	return got, nil
}

// NoBody marks the answer as having none whatever its headers say: the answer to a HEAD.
func (a *Answer) NoBody() {
	a.remain, a.chunked, a.eof = 0, nil, true
}

// Header calls fn with each header of the answer but the hop-by-hop ones (Head.Header). The
// slices are valid until Close.
func (a *Answer) Header(fn func(name, value []byte)) { a.h.Header(fn) }

// Read reads the body.
func (a *Answer) Read(p []byte) (int, error) {
	n, err := a.read(p)
	if err != nil && err != io.EOF && a.ctx != nil {
		err = cut(a.ctx, err)
	}
	return n, err
}

func (a *Answer) read(p []byte) (int, error) {
	switch {
	case a.eof:
		return 0, io.EOF
	case a.chunked != nil:
		n, err := a.chunked.Read(p)
		if err == io.EOF {
			if terr := a.skipTrailer(); terr != nil {
				a.reuse = false
				return n, terr
			}
			a.eof = true
		}
		return n, err
	case a.ContentLength >= 0:
		if int64(len(p)) > a.remain {
			p = p[:a.remain]
		}
		n, err := a.c.br.Read(p)
		a.remain -= int64(n)
		if a.remain == 0 {
			a.eof = true
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	n, err := a.c.br.Read(p)
	if err == io.EOF {
		a.eof = true
	}
	return n, err
}

// skipTrailer reads the trailer lines after the last chunk, up to the blank line.
func (a *Answer) skipTrailer() error {
	for n := 0; ; n++ {
		line, err := a.c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if trimLine(line) == nil {
			return nil
		}
		if n > 100 {
			return fmt.Errorf("%w: trailer", ErrBadAnswer)
		}
	}
}

// Close ends the exchange. The connection goes back to the address's idle ones when the body
// was read to its end and both sides keep it alive; otherwise it is closed. The time in flight
// on the address ends.
func (a *Answer) Close() {
	if a.closed {
		return
	}
	a.closed = true
	c := a.c
	held := a.stop == nil || a.stop() // false: the context ended and cut the connection
	if held && a.reuse && a.eof {
		c.used = true
		a.u.put(c)
	} else {
		_ = c.nc.Close()
	}
	if a.counted { // an answer Exchange returned: its time in flight ends
		a.u.inFlight.Add(-1)
		a.u.m.inFlight.Dec()
	}
}

// take returns the connection to u idle the shortest time if that is under maxIdle, or a new
// one. Connections idle longer than h1IdleTimeout are closed.
func (u *upstream) take(ctx context.Context, maxIdle time.Duration) (*h1conn, error) {
	if maxIdle > 0 {
		now := time.Now()
		u.idleMu.Lock()
		for len(u.idle) > 0 {
			c := u.idle[len(u.idle)-1]
			idle := now.Sub(c.since)
			if idle >= h1IdleTimeout {
				u.idle = u.idle[:len(u.idle)-1]
				_ = c.nc.Close()
				continue
			}
			if idle < maxIdle {
				u.idle = u.idle[:len(u.idle)-1]
				u.idleMu.Unlock()
				return c, nil
			}
			break
		}
		u.idleMu.Unlock()
	}
	d := net.Dialer{Timeout: h1DialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", u.host)
	if err != nil {
		return nil, err
	}
	return &h1conn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// put keeps c for the next exchange, or closes it when enough are idle or the group stopped.
func (u *upstream) put(c *h1conn) {
	c.since = time.Now()
	u.idleMu.Lock()
	if len(u.idle) < h1MaxIdle && !u.closed {
		u.idle = append(u.idle, c)
		c = nil
	}
	u.idleMu.Unlock()
	if c != nil {
		_ = c.nc.Close()
	}
}

// closeIdle closes the idle connections and keeps none from now on.
func (u *upstream) closeIdle() {
	u.idleMu.Lock()
	idle := u.idle
	u.idle, u.closed = nil, true
	u.idleMu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
}

// idleConns guards an address's idle connections.
type idleConns struct {
	idleMu sync.Mutex
	idle   []*h1conn
	closed bool
}

// splitHeader splits "Name: value\r\n"; ok is false for a line without a colon, an empty name
// or a name with a space (which would let a value pass as a header).
func splitHeader(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = line[:i]
	for _, b := range name {
		if b <= ' ' || b >= 0x7f {
			return nil, nil, false
		}
	}
	return name, bytes.TrimSpace(line[i+1:]), true
}

// hopByHop reports whether a header belongs to one connection and is not forwarded.
func hopByHop(name []byte) bool {
	for _, h := range [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade"} {
		if asciiEqualFold(name, h) {
			return true
		}
	}
	return false
}

func trimLine(b []byte) []byte {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil
	}
	return b
}

func asciiEqualFold[T ~string | ~[]byte](b []byte, s T) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x|0x20 != y|0x20 || (x|0x20 < 'a' || x|0x20 > 'z') && x != y {
			return false
		}
	}
	return true
}
