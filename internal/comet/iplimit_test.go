package comet

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
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
