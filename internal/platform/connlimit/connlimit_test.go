package connlimit

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestIPLimitCountsAndReleases(t *testing.T) {
	l, err := New(Options{Listener: "t", PerIP: 2})
	require.NoError(t, err)
	require.True(t, l.AcquireIP("1.1.1.1"))
	require.True(t, l.AcquireIP("1.1.1.1"))
	require.False(t, l.AcquireIP("1.1.1.1"))
	require.True(t, l.AcquireIP("2.2.2.2"), "other addresses are not affected")
	l.ReleaseIP("1.1.1.1")
	require.True(t, l.AcquireIP("1.1.1.1"))
	open, err := New(Options{Listener: "u"})
	require.NoError(t, err)
	require.True(t, open.AcquireIP("x"), "0 means no limit")
	require.Equal(t, "127.0.0.1", Host("127.0.0.1:5000"))
	require.Equal(t, "::1", Host("[::1]:5000"))
	require.Equal(t, 1.0, testutil.ToFloat64(l.refused[0]))
}

func TestLimitDerivesFromDescriptors(t *testing.T) {
	c := Config{MaxTotal: -1, FDReserve: 256}
	require.Equal(t, 768, c.Limit(1024))
	require.Equal(t, 1048576-256, c.Limit(1048576))
	require.Equal(t, 150, c.Limit(300), "below twice the reserve, half goes to connections")
	require.Equal(t, 0, c.Limit(0), "unknown limit: no derived cap")
	c.MaxTotal = 5000
	require.Equal(t, 768, c.Limit(1024), "never above the derived cap")
	require.Equal(t, 5000, c.Limit(0))
	c.MaxTotal = 0
	require.Equal(t, 0, c.Limit(1024), "0 = no cap")
	require.Error(t, (&Config{MaxTotal: -2}).Validate())
	require.Error(t, (&Config{MaxTotal: -1, FDReserve: -1}).Validate())
	require.Positive(t, NoFile())
}

// accepted serves ln and hands over every accepted connection.
func accepted(t *testing.T, ln net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ch
}

func dial(t *testing.T, ln net.Listener, from string) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// refused reports whether the server closed c (EOF) rather than keeping it open.
func refused(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Two listeners share one total; each has its own per-IP cap. A refusal is counted by reason, a
// slot comes back on the first Close only, and the descriptor stays reachable for pollers.
func TestListenersShareTheTotal(t *testing.T) {
	reg := prometheus.NewRegistry()
	total := NewTotal(3)
	hooked := make(chan string, 10)
	a, err := New(Options{Listener: "a", PerIP: 2, Total: total, Registry: reg,
		OnRefuse: func(r string) { hooked <- r }})
	require.NoError(t, err)
	b, err := New(Options{Listener: "b", Total: total, Registry: reg})
	require.NoError(t, err)
	lnA, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lnB, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accA, accB := accepted(t, a.Listen(lnA)), accepted(t, b.Listen(lnB))

	dial(t, lnA, "127.0.0.1")
	a1 := <-accA
	dial(t, lnA, "127.0.0.1")
	a2 := <-accA
	over := dial(t, lnA, "127.0.0.1")
	require.True(t, refused(over), "third from one IP")
	dial(t, lnA, "127.0.0.2")
	<-accA
	require.Equal(t, 3, total.Open())
	overB := dial(t, lnB, "127.0.0.3")
	require.True(t, refused(overB), "total of 3 reached across listeners")
	require.Equal(t, 1.0, testutil.ToFloat64(a.refused[0]))
	require.Equal(t, 1.0, testutil.ToFloat64(b.refused[1]))
	require.Equal(t, ReasonPerIP, <-hooked)
	require.Empty(t, hooked)

	raw, err := a1.(*Conn).SyscallConn()
	require.NoError(t, err)
	require.NoError(t, raw.Control(func(uintptr) {}))
	_, isTCP := Unwrap(a1).(*net.TCPConn)
	require.True(t, isTCP)

	require.NoError(t, a1.Close())
	_ = a1.Close()
	_ = a1.Close()
	require.Equal(t, 2, total.Open(), "released exactly once")
	require.Equal(t, 2.0, testutil.ToFloat64(a.open))
	dial(t, lnB, "127.0.0.3")
	<-accB
	require.Equal(t, 3, total.Open())
	require.NoError(t, a2.Close())
	dial(t, lnA, "127.0.0.1") // a1 and a2 gone: the first IP has room again, the total too
	<-accA
	n, err := testutil.GatherAndCount(reg, "zhibo_conn_refused_total", "zhibo_conn_open")
	require.NoError(t, err)
	require.Equal(t, 6, n, "one vector per metric shared by both listeners")
}

// wrapped stands for a wrapper that becomes transparent once its own bytes are read.
type wrapped struct {
	net.Conn
	own bool
}

func (w *wrapped) Transparent() net.Conn {
	if w.own {
		return nil
	}
	return w.Conn
}

func TestUnwrapLooksThroughTransparentWrappers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := &wrapped{Conn: &Conn{Conn: a}, own: true}
	require.Same(t, w, Unwrap(w), "not transparent while it has bytes of its own")
	w.own = false
	require.Equal(t, a, Unwrap(w), "through the wrapper and the Conn")
	require.Equal(t, b, Unwrap(b))
}
