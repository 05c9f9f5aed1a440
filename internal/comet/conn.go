package comet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
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
// room) are written by the auth goroutine before the connection joins its
// bucket and only read afterwards; idx is guarded by the bucket lock. The
// read state (rd, buf, the WebSocket reader behind rd, joined) belongs to
// whichever goroutine reads the connection: one at a time, handed over
// through the poller's lock when the connection is parked (poller_linux.go).
//
// An idle connection costs this struct and its read buffers: once
// authenticated it waits in an epoll poller with no goroutine (or, without
// the poller, in one parked reader goroutine), and the send queue and the
// writer goroutine exist only while there is something to write (see
// writer.go).
type conn struct {
	nc     net.Conn
	ws     bool
	joined bool   // past auth: writes go through the queue; read state
	vi     uint8  // message version index (viPlain, viZlib, viBrotli)
	ip     string // WebSocket: counted in the per-IP limit until end (TCP: the listener's conn holds it)
	uid    int64
	roomID int64
	// session is the connection token's session id from logic: Disconnect hands it back,
	// and a guest is counted as a viewer by it (viewer).
	session int64
	room    *room
	idx     int
	// next is the sequence number of the last room batch this connection
	// was given (roompush.go); set at join, then used only by the room's
	// pusher.
	next uint64

	rd  io.Reader // packet source: nc, or the WebSocket frame reader
	buf []byte    // packet buffer (readBufSize)
	// lastRead is when the last packet was read (Service.now): a read waits
	// until lastRead + heartbeat_timeout, and a poller drops a parked
	// connection silent for longer.
	lastRead atomic.Int64

	// Poller state, guarded by poller.mu (poller is set before the
	// connection is visible to anyone else and never changes).
	poller *poller // nil: a reader goroutine per connection
	pollID uint64  // registration id while parked in poller; 0 otherwise
	fd     int32   // socket descriptor; fdUnknown until first parked, fdNone if not pollable
	inSet  bool    // fd is in the poller's epoll set (armed or not)

	closed atomic.Bool // set under mu by close; read without it

	mu      sync.Mutex
	reason  string        // first close reason
	queue   [][]byte      // frames for the writer from head on; nil while no writer runs
	head    int           // first frame of queue not yet taken by the writer
	writing bool          // a writer goroutine owns the connection's writes
	parked  bool          // the writer waits on wake for frames
	wake    chan struct{} // the running writer's wake-up (capacity 1)
	// raw is the socket's descriptor access, for direct writes (deliver.go)
	// and the poller; nil for a connection that has none (not plain TCP, or
	// not Linux). Set by newConn, then only read.
	raw syscall.RawConn
}

// Values of conn.fd before a descriptor is known.
const (
	fdUnknown = -1 // not looked up yet
	fdNone    = -2 // the connection has no descriptor a poller can watch
)

// remote names the client in log lines: the address a trusted proxy gave for a WebSocket
// (gateway.trusted_proxies), else the socket's peer.
func (c *conn) remote() string {
	if c.ip != "" {
		return c.ip
	}
	return c.nc.RemoteAddr().String()
}

func newConn(nc net.Conn, isWS bool) *conn {
	return &conn{nc: nc, ws: isWS, idx: -1, fd: fdUnknown, raw: rawConn(nc)}
}

// close closes the connection once, recording why, and wakes a parked
// writer so it exits. A connection parked in a poller is taken out of it
// (before the socket is closed, so its descriptor cannot be reused while
// still in the epoll set) and finished on a goroutine of its own: nobody
// else would. It reports whether this call closed it. It never blocks on
// the connection's goroutines, so it is safe under a bucket lock.
func (c *conn) close(reason string) bool {
	c.mu.Lock()
	if c.reason != "" {
		c.mu.Unlock()
		return false
	}
	c.reason = reason
	c.closed.Store(true)
	c.wakeWriter()
	c.mu.Unlock()
	if c.poller != nil {
		c.poller.detach(c)
	}
	_ = c.nc.Close()
	return true
}

// isClosed reports whether close was called (cheap; no lock).
func (c *conn) isClosed() bool { return c.closed.Load() }

// writeDirect writes b synchronously; only during auth, when the reader is
// the connection's only writer (auth replies, early WebSocket control
// frames).
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

// viewer is the key the connection counts under in its room's distinct viewers: the uid of
// a logged-in user, the negated token session of a guest (the rule logic's viewerKey uses).
func (c *conn) viewer() int64 {
	if c.uid > 0 {
		return c.uid
	}
	return -c.session
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
