package comet

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
)

// directWrites tells whether this platform can write to a socket without
// blocking through its raw descriptor.
const directWrites = true

// rawConn returns the descriptor access of a plain TCP connection (also
// under a connection-limit wrapper, which adds nothing to the stream), or nil
// for any other kind (TLS), which is only written through its send queue.
func rawConn(nc net.Conn) syscall.RawConn {
	tc, ok := connlimit.Unwrap(nc).(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// directWriter makes single non-blocking writes through a connection's raw
// descriptor. RawConn.Write holds the descriptor for the duration, so a
// concurrent close cannot make the write land on a reused descriptor. One
// directWriter serves one goroutine.
type directWriter struct {
	bufs [][]byte
	n    int
	err  error
	fn   func(fd uintptr) bool
}

func newDirectWriter() *directWriter {
	w := &directWriter{}
	w.fn = w.write
	return w
}

// write is the RawConn callback: one write system call, never a wait for
// the socket to become writable (returning true ends RawConn.Write).
func (w *directWriter) write(fd uintptr) bool {
	for {
		var n int
		var err error
		if len(w.bufs) == 1 {
			n, err = unix.Write(int(fd), w.bufs[0])
		} else {
			n, err = unix.Writev(int(fd), w.bufs)
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		w.n, w.err = max(n, 0), err
		return true
	}
}

// try writes as much of bufs, in order, to rc as the socket takes now. A
// full socket buffer is not an error: it returns how many bytes went out
// (possibly 0) and nil. os.ErrDeadlineExceeded means the descriptor refused
// because a write deadline set earlier has passed; the caller clears it and
// tries again.
func (w *directWriter) try(rc syscall.RawConn, bufs [][]byte) (int, error) {
	w.bufs, w.n, w.err = bufs, 0, nil
	err := rc.Write(w.fn)
	w.bufs = nil
	if err != nil {
		return 0, err
	}
	if errors.Is(w.err, unix.EAGAIN) {
		return w.n, nil
	}
	return w.n, w.err
}
