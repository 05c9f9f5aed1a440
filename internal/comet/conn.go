package comet

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// Close reasons that are not drops: the peer left, or the comet stopped.
const (
	closeShutdown = "shutdown"
	closePeer     = "peer"
)

// maxWritev bounds how many queued frames one write system call carries.
const maxWritev = 16

// Message version indexes: a room keeps one encoded batch per index.
const (
	viPlain = iota
	viZlib
	viBrotli
	numVers
)

func verIndex(ver uint16) uint8 {
	switch ver {
	case protocol.VerZlib:
		return viZlib
	case protocol.VerBrotli:
		return viBrotli
	}
	return viPlain
}

var indexVer = [numVers]uint16{protocol.VerPlain, protocol.VerZlib, protocol.VerBrotli}

// conn is one client connection. Fields set during auth (uid, roomID, vi,
// room) are written by the reader goroutine before the connection joins its
// bucket and only read afterwards; idx is guarded by the bucket lock.
type conn struct {
	nc     net.Conn
	ws     bool
	ip     string // counted in the per-IP limit until end
	vi     uint8  // message version index (viPlain, viZlib, viBrotli)
	uid    int64
	roomID int64
	room   *room
	idx    int

	send   chan []byte   // frames for the writer; never closed
	done   chan struct{} // closed by close
	closed atomic.Bool

	mu     sync.Mutex
	reason string // first close reason; guarded by mu

	writing bool // writer goroutine started; reader goroutine only
}

func newConn(nc net.Conn, isWS bool, queue int) *conn {
	return &conn{
		nc:   nc,
		ws:   isWS,
		idx:  -1,
		send: make(chan []byte, queue),
		done: make(chan struct{}),
	}
}

// close closes the connection once, recording why. It reports whether this
// call closed it. It never blocks on the connection's goroutines, so it is
// safe under a bucket lock.
func (c *conn) close(reason string) bool {
	c.mu.Lock()
	if c.reason != "" {
		c.mu.Unlock()
		return false
	}
	c.reason = reason
	c.closed.Store(true)
	c.mu.Unlock()
	close(c.done)
	_ = c.nc.Close()
	return true
}

// isClosed reports whether close was called (cheap; no lock).
func (c *conn) isClosed() bool { return c.closed.Load() }

// enqueue queues a frame for the writer without blocking. It returns false
// only when the queue is full; frames for an already closed connection are
// silently discarded.
func (c *conn) enqueue(b []byte) bool {
	if c.closed.Load() {
		return true
	}
	select {
	case c.send <- b:
		return true
	default:
		return false
	}
}

// writeDirect writes b synchronously; only before the writer goroutine
// starts (auth replies, early WebSocket control frames).
func (c *conn) writeDirect(b []byte, timeout time.Duration) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(b)
	return err
}

// replyBuf returns an empty buffer with capacity for a packet of n bytes,
// already holding the WebSocket frame header for it on a WebSocket
// connection, so a reply costs one allocation.
func (c *conn) replyBuf(n int) []byte {
	if !c.ws {
		return make([]byte, 0, n)
	}
	return appendWSHeader(make([]byte, 0, wsHeaderLen(n)+n), wsOpBinary, n)
}

// writeLoop drains the send queue, batching up to maxWritev frames into one
// vectored write with a deadline. It exits when the connection closes or a
// write fails.
func (s *Service) writeLoop(c *conn) {
	defer s.wg.Done()
	var arr [maxWritev][]byte
	for {
		var b []byte
		select {
		case <-c.done:
			return
		case b = <-c.send:
		}
		bufs := append(arr[:0], b)
	drain:
		for len(bufs) < maxWritev {
			select {
			case b = <-c.send:
				bufs = append(bufs, b)
			default:
				break drain
			}
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		nb := net.Buffers(bufs)
		_, err := nb.WriteTo(c.nc)
		clear(arr[:])
		if err != nil {
			if !c.isClosed() {
				s.drop(c, dropWriteError, err)
			}
			return
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
