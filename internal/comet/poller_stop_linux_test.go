package comet

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A poller that shut down by itself (its epoll failed) is stopped again by Stop: nothing may
// be written to its wake descriptor's number, which a new socket may hold by then.
func TestStopAfterShutdownWritesNothing(t *testing.T) {
	p, err := newPoller(&Service{})
	require.NoError(t, err)
	p.shutdown()
	peer := -1
	for range 8 { // the lowest free number is given first
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
		if fds[0] == p.wakefd {
			peer = fds[1]
			break
		}
		if fds[1] == p.wakefd {
			peer = fds[0]
			break
		}
	}
	require.NotEqual(t, -1, peer, "a new socket holds the wake descriptor's number")
	p.stop()
	buf := make([]byte, 16)
	n, err := unix.Read(peer, buf)
	require.ErrorIs(t, err, unix.EAGAIN, "nothing written (read %d bytes)", n)
}
