package pool

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestMetricsForget(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	_, err := New(Config{Name: "room", Addrs: []string{"http://a:1", "http://b:1"}}, nil, m)
	require.NoError(t, err)
	_, err = New(Config{Name: "gift", Addrs: []string{"http://a:1"}}, nil, m)
	require.NoError(t, err)
	// New creates every series: 3 results, ejections, up, in flight per address; 2 retry results per group.
	require.Equal(t, 3*6, testutil.CollectAndCount(m.requests)+testutil.CollectAndCount(m.ejections)+
		testutil.CollectAndCount(m.up)+testutil.CollectAndCount(m.inFlight))
	require.Equal(t, 4, testutil.CollectAndCount(m.retries))

	m.Forget("room", []string{"http://a:1"})
	require.Equal(t, 2, testutil.CollectAndCount(m.up), "room's b and gift's a remain")
	require.Equal(t, 4, testutil.CollectAndCount(m.retries), "a removed address leaves the group's retries")

	m.Forget("room", nil)
	require.Equal(t, 1, testutil.CollectAndCount(m.up))
	require.Equal(t, 3, testutil.CollectAndCount(m.requests))
	require.Equal(t, 2, testutil.CollectAndCount(m.retries))
	require.EqualValues(t, 1, testutil.ToFloat64(m.up.WithLabelValues("gift", "http://a:1")))
}
