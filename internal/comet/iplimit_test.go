package comet

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
)

// A third connection from one address is refused on both transports while the first two
// stay up; once one closes, a new one is accepted again.
func TestConnectionsPerIPAreCapped(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	a := e.dialTCP(t)
	b := e.dialWS(t)
	a.join(7, 2)
	b.join(7, 2)

	over := e.dialTCP(t)
	_ = over.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := over.nc.Read(make([]byte, 1))
	require.Error(t, err, "the third TCP connection is closed at once")
	_, _, _, err = ws.Dial(context.Background(), e.wsURL)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "429") || strings.Contains(err.Error(), http.StatusText(http.StatusTooManyRequests)), err)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(e.svc.m.dropped.WithLabelValues(dropIPLimit)) == 2
	}, 5*time.Second, 10*time.Millisecond)

	a.nc.Close()
	require.Eventually(t, func() bool {
		c := e.dialTCP(t)
		_ = c.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.nc.Read(make([]byte, 1))
		c.nc.Close()
		return err != nil && strings.Contains(err.Error(), "timeout") // kept open, waiting for auth
	}, 5*time.Second, 50*time.Millisecond)
}

// The TCP listener shares the process total: over it, a connection is refused at accept and
// counted as total_limit; closing an admitted one gives its slot back.
func TestTCPListenerSharesTheProcessTotal(t *testing.T) {
	total := connlimit.NewTotal(1)
	svc, err := New(testConfig(), Deps{Logic: &fakeLogic{popularity: 1}, Conns: total})
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", svc.TCPAddr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = nc.Close() })
		return nc
	}
	first := dial()
	require.Eventually(t, func() bool { return total.Open() == 1 }, 5*time.Second, 10*time.Millisecond)
	over := dial()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = over.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "refused at accept")
	require.Equal(t, 1.0, testutil.ToFloat64(svc.m.dropped.WithLabelValues(dropTotalLimit)))
	require.NoError(t, first.Close())
	require.Eventually(t, func() bool { return total.Open() == 0 }, 5*time.Second, 10*time.Millisecond)
}
