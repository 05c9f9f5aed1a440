package loop

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// What reaches a loop after it stopped — a dial that ended late, a connection adopted as it
// stopped — is closed, not left open, and the loop's wake descriptor, closed with it, is not
// written to (its number may belong to a new connection by then).
func TestTasksAfterStopAreClosed(t *testing.T) {
	s := &Server{}
	s.defaults()
	l, err := newLoop(s)
	require.NoError(t, err)
	queued := socketPair(t) // posted before the stop, never run
	l.post(task{kind: taskDialed, fd: queued[0], n: 1})
	l.stop()

	// The wake descriptor's number, taken by a new socket (the lowest free number is given
	// first): nothing may be written to it. peer is its other end.
	peer := -1
	for range 8 {
		pair := socketPair(t)
		if pair[0] == l.wakefd {
			peer = pair[1]
			break
		}
		if pair[1] == l.wakefd {
			peer = pair[0]
			break
		}
	}
	require.NotEqual(t, -1, peer, "a new socket holds the wake descriptor's number")

	dialed := socketPair(t)
	l.post(task{kind: taskDialed, fd: dialed[0], n: 2})
	a, b := net.Pipe()
	defer b.Close()
	adopted := socketPair(t)
	s.open.Add(1)
	l.post(task{kind: taskAdopt, fd: adopted[0], conn: a})

	for _, fd := range []int{queued[0], dialed[0], adopted[0]} {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		require.ErrorIs(t, err, unix.EBADF, "descriptor %d closed", fd)
	}
	require.Zero(t, s.open.Load(), "the adopted connection is uncounted")
	_, err = a.Write([]byte("x"))
	require.Error(t, err, "the adopted connection is closed")
	buf := make([]byte, 16)
	n, err := unix.Read(peer, buf)
	require.ErrorIs(t, err, unix.EAGAIN, "nothing written to the wake descriptor's number (read %d bytes)", n)
}

func socketPair(t *testing.T) [2]int {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
	return [2]int(fds)
}
