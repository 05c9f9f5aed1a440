package pool

import (
	"errors"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestHealthTakesFailingAddressOutAndBack(t *testing.T) {
	good, sick := newBackend(t), newBackend(t)
	cfg := Config{Addrs: []string{good.addr, sick.addr}, Balance: BalanceRoundRobin,
		Health: Health{Path: "/healthz", Interval: ms(20), Timeout: ms(500), Fails: 3, Passes: 2}}
	logs := &logBuffer{}
	g, m := newLoggingGroup(t, cfg, logs)
	up := func() float64 { return testutil.ToFloat64(m.up.WithLabelValues("test", sick.addr)) }

	// Both start up and take traffic.
	for range 4 {
		mustGet(t, g)
	}
	require.EqualValues(t, 2, sick.hits.Load())

	sick.health.Store(http.StatusInternalServerError)
	eventually(t, func() bool { return !status(t, g, sick.addr).Up }, "sick address marked down")
	require.EqualValues(t, 0, up())
	require.True(t, status(t, g, good.addr).Up)
	require.Contains(t, logs.String(), `msg="upstream down" group=test addr=`+sick.addr+` err="health check /healthz answered 500 Internal Server Error"`)
	before := sick.hits.Load()
	for range 20 {
		_, from := mustGet(t, g)
		require.Equal(t, good.addr, from)
	}
	require.Equal(t, before, sick.hits.Load(), "a down address gets no traffic")

	sick.health.Store(http.StatusOK)
	eventually(t, func() bool { return status(t, g, sick.addr).Up }, "sick address back up")
	require.EqualValues(t, 1, up())
	require.Contains(t, logs.String(), `msg="upstream up" group=test addr=`+sick.addr)
	for range 4 {
		mustGet(t, g)
	}
	require.EqualValues(t, before+2, sick.hits.Load(), "a recovered address gets its share again")
}

func TestHealthAllDownIsErrNoUpstream(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.health.Store(http.StatusServiceUnavailable)
	b.health.Store(http.StatusNotFound)
	g, _ := newGroup(t, Config{Addrs: []string{a.addr, b.addr},
		Health: Health{Path: "/healthz", Interval: ms(20), Fails: 1}})
	eventually(t, func() bool { return !status(t, g, a.addr).Up && !status(t, g, b.addr).Up }, "both down")
	_, _, err := do(t, g, http.MethodGet, nil)
	require.True(t, errors.Is(err, ErrNoUpstream), "got %v", err)
	require.Zero(t, a.hits.Load()+b.hits.Load())
}

func TestStopIsIdempotentAndKeepsServing(t *testing.T) {
	b := newBackend(t)
	g, _ := newGroup(t, Config{Addrs: []string{b.addr}, Health: Health{Path: "/healthz", Interval: ms(20), Fails: 1}})
	g.Stop()
	g.Stop() // idempotent
	b.health.Store(http.StatusInternalServerError)
	// The address keeps the state the last probe gave it: a request still reaches it.
	code, from := mustGet(t, g)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, b.addr, from)
	require.True(t, status(t, g, b.addr).Up)
}
