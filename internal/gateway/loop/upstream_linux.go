package loop

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/epoll"
)

const idleTimeout = pool.IdleTimeout

// upconn is a loop's connection to an upstream address.
type upconn struct {
	l      *evloop
	fd     int
	data   uint64
	events uint32
	host   string
	x      *exchange // the exchange it carries, nil while idle
	in     []byte
	since  time.Time // idle since
	paused bool      // not read while its client has too much output waiting
	closed bool
}

func (u *upconn) want(events uint32) {
	if u.closed || events == u.events {
		return
	}
	u.events = events
	u.l.modify(u.fd, u.data, events)
}

func (u *upconn) event(ev uint32) {
	x := u.x
	if x == nil { // idle: readable means the upstream closed it (or sent what nobody asked)
		u.l.dropIdle(u)
		u.close()
		return
	}
	if ev&unix.EPOLLOUT != 0 && x.off < len(x.req) {
		x.write()
		if x.u != u {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !u.paused {
		x.read()
	}
}

func (u *upconn) pause() {
	u.paused = true
	u.want(u.events &^ (unix.EPOLLIN | unix.EPOLLRDHUP))
}

func (u *upconn) resume() {
	u.paused = false
	u.want(u.events | unix.EPOLLIN | unix.EPOLLRDHUP)
	if len(u.in) > 0 && u.x != nil {
		u.x.consume()
	}
}

func (u *upconn) close() {
	if u.closed {
		return
	}
	u.closed = true
	u.l.unregister(u.fd, u.data)
	_ = unix.Close(u.fd)
	u.l.s.Metrics.upstream.Dec()
}

// takeIdle returns the connection to host idle the shortest time, when that is under maxIdle.
func (l *evloop) takeIdle(host string, maxIdle time.Duration) *upconn {
	list := l.idle[host]
	if len(list) == 0 || maxIdle <= 0 {
		return nil
	}
	u := list[len(list)-1]
	if time.Since(u.since) >= maxIdle {
		return nil
	}
	list[len(list)-1] = nil
	l.idle[host] = list[:len(list)-1]
	return u
}

// putIdle keeps u for the next exchange to its address.
func (l *evloop) putIdle(u *upconn) {
	u.x, u.in, u.paused = nil, u.in[:0], false
	list := l.idle[u.host]
	if l.shutting || len(list) >= pool.MaxIdle {
		u.close()
		return
	}
	u.since = time.Now()
	u.want(unix.EPOLLIN | unix.EPOLLRDHUP)
	l.idle[u.host] = append(list, u)
}

func (l *evloop) dropIdle(u *upconn) {
	list := l.idle[u.host]
	for i, v := range list {
		if v == u {
			l.idle[u.host] = append(list[:i], list[i+1:]...)
			list[len(list)-1] = nil
			return
		}
	}
}

// exchange is one client's request to an upstream group, in flight on the loop.
type exchange struct {
	c        *client
	l        *evloop
	g        *pool.Group
	call     pool.Call
	h        pool.AnswerHandler
	req      []byte // the request as sent: head, framing, body
	off      int    // of req written
	hasBody  bool
	headReq  bool // HEAD: the answer has no body
	deadline time.Time
	heapIdx  int
	host     string
	u        *upconn
	dialing  uint64 // the dial in progress (its number), 0 = none
	dials    uint64
	reused   bool // u carried an exchange before
	fresh    bool // sent again on a new connection: no more of that
	got      bool // a byte of an answer came
	headDone bool
	head     pool.Head
	mode     int
	remain   int64
	dec      chunked
	active   bool
}

const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyClose
)

var errShutdown = errors.New("gateway shut down")

func (x *exchange) start(g *pool.Group, head, body []byte, deadline time.Time, idempotent bool, h pool.AnswerHandler) {
	x.g, x.h, x.active = g, h, true
	x.hasBody, x.headReq = len(body) > 0, bytes.HasPrefix(head, []byte("HEAD "))
	x.req = append(x.req[:0], head...)
	if len(body) > 0 {
		x.req = append(x.req, "Content-Length: "...)
		x.req = strconv.AppendInt(x.req, int64(len(body)), 10)
		x.req = append(x.req, "\r\n\r\n"...)
		x.req = append(x.req, body...)
	} else {
		x.req = append(x.req, "\r\n"...)
	}
	x.fresh = false
	x.call = g.NewCall(idempotent, len(body) > 0)
	host, err := x.call.Begin()
	if err != nil {
		x.end(err)
		return
	}
	x.deadline = deadline
	if !deadline.IsZero() {
		heap.Push(&x.l.deadline, x)
	}
	x.send(host)
}

// send makes an attempt on host: on an idle connection, or a new one.
func (x *exchange) send(host string) {
	x.host, x.off, x.got, x.headDone = host, 0, false, false
	maxIdle := idleTimeout
	if x.hasBody {
		maxIdle = pool.BodyIdle
	}
	if x.fresh {
		maxIdle = 0
	}
	if u := x.l.takeIdle(host, maxIdle); u != nil {
		x.reused, x.u, u.x = true, u, x
		x.write()
		return
	}
	x.reused = false
	x.dial(host)
}

// dial opens a connection to host off the loop (name resolution and connect may block) and
// posts it back.
func (x *exchange) dial(host string) {
	x.dials++
	n := x.dials
	x.dialing = n
	l := x.l
	l.s.Metrics.dials.Inc()
	go func() {
		nc, err := net.DialTimeout("tcp", host, pool.DialTimeout)
		fd := -1
		if err == nil {
			tc, _ := nc.(*net.TCPConn)
			if tc == nil {
				_ = nc.Close()
				err = fmt.Errorf("dial %s: not TCP", host)
			} else {
				_ = tc.SetNoDelay(true)
				fd, err = epoll.Detach(tc)
			}
		}
		l.post(task{kind: taskDialed, fd: fd, err: err, x: x, n: n})
	}()
}

// dialed takes the connection a dial made (task), if the exchange still waits for it.
func (x *exchange) dialed(fd int, err error, n uint64) {
	if !x.active || x.dialing != n {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return
	}
	x.dialing = 0
	if err != nil {
		x.attemptFailed(err)
		return
	}
	u := &upconn{l: x.l, fd: fd, host: x.host, x: x, events: unix.EPOLLIN | unix.EPOLLRDHUP}
	data, err := x.l.register(fd, u.events, u)
	if err != nil {
		_ = unix.Close(fd)
		x.attemptFailed(err)
		return
	}
	u.data = data
	x.l.s.Metrics.upstream.Inc()
	x.u = u
	x.write()
}

func (x *exchange) write() {
	u := x.u
	for x.off < len(x.req) {
		n, err := epoll.Write(u.fd, x.req[x.off:])
		if n > 0 {
			x.off += n
		}
		switch {
		case err == nil, err == unix.EINTR:
		case err == unix.EAGAIN:
			u.want(unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLOUT)
			return
		default:
			x.attemptFailed(os.NewSyscallError("write", err))
			return
		}
	}
	u.want(unix.EPOLLIN | unix.EPOLLRDHUP)
}

func (x *exchange) read() {
	u := x.u
	u.in = spare(u.in)
	for {
		n, err := epoll.Read(u.fd, u.in[len(u.in):cap(u.in)])
		switch {
		case n > 0:
			u.in = u.in[:len(u.in)+n]
			x.got = true
			x.consume()
			return
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case n == 0 && err == nil:
			x.eof()
			return
		default:
			x.failRead(os.NewSyscallError("read", err))
			return
		}
	}
}

// consume parses what u read: the answer's head, then its body, given to the handler.
func (x *exchange) consume() {
	u := x.u
	if !x.headDone {
		for {
			n := lane.HeadLen(u.in)
			if n < 0 {
				if len(u.in) > pool.MaxHead {
					x.failRead(fmt.Errorf("%w: head over %d bytes", pool.ErrBadAnswer, pool.MaxHead))
				}
				return
			}
			if err := pool.ParseHead(u.in[:n], &x.head); err != nil {
				x.failRead(err)
				return
			}
			if x.head.Status == 101 {
				x.failRead(fmt.Errorf("%w: 101 to a request that asked no upgrade", pool.ErrBadAnswer))
				return
			}
			u.in = u.in[:copy(u.in, u.in[n:])]
			if x.head.Status >= 200 {
				break
			}
			// 1xx: an interim answer (100 Continue, 103 Early Hints) before the real one
		}
		x.headDone = true
		x.call.Answered(x.head.Status)
		if host, ok := x.call.Retry(x.head.Status, nil, false); ok { // 502, 503, 504: another address
			u.close()
			x.u = nil
			x.send(host)
			return
		}
		switch {
		case x.headReq || x.head.ContentLength == 0:
			x.mode = bodyNone
		case x.head.ContentLength > 0:
			x.mode, x.remain = bodyLength, x.head.ContentLength
		case x.head.Chunked:
			x.mode = bodyChunked
			x.dec.reset()
		default:
			x.mode = bodyClose
		}
		if !x.h.Head(&x.head) {
			x.finish(nil, false)
			return
		}
		if x.mode == bodyNone {
			x.finish(nil, x.head.Reuse && len(u.in) == 0)
			return
		}
	}
	x.body()
}

// body gives the handler the body bytes read.
func (x *exchange) body() {
	u := x.u
	switch x.mode {
	case bodyLength:
		k := min(int64(len(u.in)), x.remain)
		if k > 0 {
			ok := x.h.Body(u.in[:k])
			x.remain -= k
			u.in = u.in[:copy(u.in, u.in[k:])]
			if !ok {
				x.finish(nil, false)
				return
			}
		}
		if x.remain == 0 {
			x.finish(nil, x.head.Reuse && len(u.in) == 0)
			return
		}
	case bodyChunked:
		n, done, err := x.dec.feed(u.in, x.h.Body)
		u.in = u.in[:copy(u.in, u.in[n:])]
		switch {
		case errors.Is(err, errStopped):
			x.finish(nil, false)
			return
		case err != nil:
			x.failRead(err)
			return
		case done:
			x.finish(nil, x.head.Reuse && len(u.in) == 0)
			return
		}
	case bodyClose:
		if len(u.in) > 0 {
			ok := x.h.Body(u.in)
			u.in = u.in[:0]
			if !ok {
				x.finish(nil, false)
				return
			}
		}
	}
	if x.c.pending() > highWater {
		u.pause()
	}
}

// eof: the upstream closed the connection.
func (x *exchange) eof() {
	switch {
	case !x.headDone:
		x.attemptFailed(io.ErrUnexpectedEOF)
	case x.mode == bodyClose:
		x.finish(nil, false)
	default:
		x.failRead(io.ErrUnexpectedEOF)
	}
}

// failRead: the answer broke (a read failed, or it is not HTTP).
func (x *exchange) failRead(err error) {
	if !x.headDone {
		x.attemptFailed(err)
		return
	}
	x.u.close()
	x.u = nil
	x.finish(x.call.Err(err), false)
}

// attemptFailed: the attempt got no answer. A kept-alive connection the upstream closed while
// it was idle fails before any byte of an answer; a request without a body goes once more on
// a new connection to the same address. Otherwise the group's retries decide.
func (x *exchange) attemptFailed(err error) {
	if x.u != nil {
		x.u.close()
		x.u = nil
	}
	if x.reused && !x.got && !x.hasBody && !x.fresh && stale(err) {
		x.fresh = true
		x.send(x.host)
		return
	}
	x.call.Failed(err, false)
	if host, ok := x.call.Retry(0, err, false); ok {
		x.send(host)
		return
	}
	x.end(x.call.Err(err))
}

// stale reports whether err is what a connection closed by its peer gives.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// timedOut: the exchange's deadline passed (the route's timeout).
func (x *exchange) timedOut() {
	if !x.active {
		return
	}
	x.fail(context.DeadlineExceeded)
}

// fail ends the exchange with err: before its answer's head, as a failed attempt that is not
// the address's fault (a deadline: no retry, no ejection), after it, cut.
func (x *exchange) fail(err error) {
	if !x.active {
		return
	}
	if x.u != nil {
		x.u.close()
		x.u = nil
	}
	x.dialing = 0
	if x.headDone {
		x.finish(x.call.Err(err), false)
		return
	}
	x.call.Failed(err, true)
	x.end(err)
}

// finish ends an answered exchange: its connection kept for the next one (reuse) or closed.
func (x *exchange) finish(err error, reuse bool) {
	if u := x.u; u != nil {
		x.u = nil
		if reuse && err == nil {
			x.l.putIdle(u)
		} else {
			u.close()
		}
	}
	x.call.Done()
	x.end(err)
}

// end ends the exchange: the handler's End, then the client's answer.
func (x *exchange) end(err error) {
	if x.heapIdx >= 0 {
		heap.Remove(&x.l.deadline, x.heapIdx)
		x.heapIdx = -1
	}
	x.active = false
	x.dialing = 0
	cut := err != nil && x.headDone
	x.h.End(err)
	x.h = nil
	if x.c.returned {
		x.c.complete(cut)
	} else if cut {
		x.c.closeAfter = true
	}
}
