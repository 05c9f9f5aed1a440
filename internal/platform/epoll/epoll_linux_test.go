package epoll

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A registration's events come with its id, changed by Mod, gone after Del; Wake makes Wait
// return with Woken until Drain.
func TestSetEventsAndWake(t *testing.T) {
	s, err := New()
	require.NoError(t, err)
	defer s.Close()
	fds := pair(t)
	const id = 1<<40 + 7
	require.NoError(t, s.Add(fds[0], unix.EPOLLIN, id))
	events := make([]unix.EpollEvent, 4)
	n, err := s.Wait(events, 0)
	require.NoError(t, err)
	require.Zero(t, n)

	_, err = unix.Write(fds[1], []byte("x"))
	require.NoError(t, err)
	n, err = s.Wait(events, 1000)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, id, ID(&events[0]))
	require.NoError(t, s.Mod(fds[0], unix.EPOLLIN, 9))
	n, _ = s.Wait(events, 1000)
	require.Equal(t, 1, n)
	require.EqualValues(t, 9, ID(&events[0]))
	require.NoError(t, s.Del(fds[0]))
	n, _ = s.Wait(events, 0)
	require.Zero(t, n)
	require.Error(t, s.Del(fds[0]), "not in the set any more")

	s.Wake()
	s.Wake()
	n, _ = s.Wait(events, 1000)
	require.Equal(t, 1, n)
	require.EqualValues(t, uint64(Woken), ID(&events[0]))
	s.Drain()
	n, _ = s.Wait(events, 0)
	require.Zero(t, n, "drained")
}

// Wake after Close writes nothing: the wake-up's number, taken by a new socket here, is not
// the set's any more.
func TestWakeAfterCloseWritesNothing(t *testing.T) {
	s, err := New()
	require.NoError(t, err)
	s.Close()
	s.Close()
	peer := -1
	for range 8 { // the lowest free number is given first
		fds := pair(t)
		if fds[0] == s.wake {
			peer = fds[1]
			break
		}
		if fds[1] == s.wake {
			peer = fds[0]
			break
		}
	}
	require.NotEqual(t, -1, peer, "a new socket holds the wake-up's number")
	s.Wake()
	buf := make([]byte, 16)
	n, err := unix.Read(peer, buf)
	require.ErrorIs(t, err, unix.EAGAIN, "nothing written (read %d bytes)", n)
}

// Detach gives a non-blocking descriptor of the connection's socket and closes the connection.
func TestDetach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	srv, err := ln.Accept()
	require.NoError(t, err)
	defer srv.Close()
	fd, err := Detach(c.(*net.TCPConn))
	require.NoError(t, err)
	defer unix.Close(fd)
	_, err = c.Write([]byte("x"))
	require.Error(t, err, "the connection is closed")
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	require.NoError(t, err)
	require.NotZero(t, fl&unix.O_NONBLOCK)
	_, err = unix.Write(fd, []byte("hi"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = srv.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hi", string(buf))
}

func pair(t *testing.T) [2]int {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
	return [2]int(fds)
}

// Poll answers at once with what is ready, as Wait does with no time to wait; Read and Write
// move bytes on a non-blocking descriptor and give EAGAIN, and Read 0 at the end, as the
// unix calls do.
func TestPollReadWrite(t *testing.T) {
	s, err := New()
	require.NoError(t, err)
	defer s.Close()
	fds := pair(t)
	require.NoError(t, unix.SetNonblock(fds[0], true))
	require.NoError(t, s.Add(fds[0], unix.EPOLLIN, 5))
	events := make([]unix.EpollEvent, 4)
	n, err := s.Poll(events)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.Poll(nil)
	require.NoError(t, err)
	require.Zero(t, n)

	w, err := Write(fds[1], []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, 5, w)
	n, err = s.Poll(events)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, 5, ID(&events[0]))

	buf := make([]byte, 16)
	r, err := Read(fds[0], buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:r]))
	r, err = Read(fds[0], buf)
	require.Equal(t, -1, r)
	require.Equal(t, unix.EAGAIN, err)
	require.NoError(t, unix.Shutdown(fds[1], unix.SHUT_WR))
	r, err = Read(fds[0], buf)
	require.NoError(t, err)
	require.Zero(t, r, "the peer's side is closed")
	require.NoError(t, unix.Shutdown(fds[0], unix.SHUT_WR))
	_, err = Write(fds[0], []byte("x"))
	require.Equal(t, unix.EPIPE, err)
	_, err = Read(-1, buf)
	require.Equal(t, unix.EBADF, err)

	s.Wake()
	n, err = s.Poll(events)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the wake-up and the end of the stream")
}
