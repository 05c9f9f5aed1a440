package loop

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// What reaches a loop after it stopped — a dial that ended late, a connection adopted as it
// stopped — is closed, not left open (the wake-up it would have written is the set's,
// epoll.TestWakeAfterCloseWritesNothing).
func TestTasksAfterStopAreClosed(t *testing.T) {
	s := &Server{}
	s.defaults()
	l, err := newLoop(s)
	require.NoError(t, err)
	closed := func(fd int) { // checked at once: a new descriptor may take its number next
		t.Helper()
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		require.ErrorIs(t, err, unix.EBADF, "descriptor %d closed", fd)
	}
	queued := socketPair(t) // posted before the stop, never run
	l.post(task{kind: taskDialed, fd: queued[0], n: 1})
	l.stop()
	closed(queued[0])

	dialed := socketPair(t)
	l.post(task{kind: taskDialed, fd: dialed[0], n: 2})
	closed(dialed[0])
	a, b := net.Pipe()
	defer b.Close()
	adopted := socketPair(t)
	s.open.Add(1)
	l.post(task{kind: taskAdopt, fd: adopted[0], conn: a})
	closed(adopted[0])
	require.Zero(t, s.open.Load(), "the adopted connection is uncounted")
	_, err = a.Write([]byte("x"))
	require.Error(t, err, "the adopted connection is closed")
}

// socketPair is a connected pair; the test hands the first end to the code under test, which
// closes it, and the second is closed at the test's end.
func socketPair(t *testing.T) [2]int {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fds[1]) })
	return [2]int(fds)
}
