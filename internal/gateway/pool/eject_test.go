package pool

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestEjectFailingAddressThenReturn(t *testing.T) {
	bad, ok1, ok2 := newBackend(t), newBackend(t), newBackend(t)
	bad.status.Store(http.StatusInternalServerError)
	g, m := newGroup(t, Config{Addrs: []string{bad.addr, ok1.addr, ok2.addr}, Balance: BalanceRoundRobin,
		Eject: Eject{Failures: 3, For: Duration(time.Second)}})

	for range 9 { // three rounds: the third failure in a row ejects bad
		mustGet(t, g)
	}
	s := status(t, g, bad.addr)
	require.True(t, s.Ejected)
	require.True(t, s.Up, "ejection is not health")
	require.EqualValues(t, 3, bad.hits.Load())
	require.EqualValues(t, 1, testutil.ToFloat64(m.ejections.WithLabelValues("test", bad.addr)))
	require.EqualValues(t, 0, testutil.ToFloat64(m.up.WithLabelValues("test", bad.addr)))
	for range 20 {
		code, from := mustGet(t, g)
		require.Equal(t, http.StatusOK, code)
		require.NotEqual(t, bad.addr, from)
	}
	require.True(t, time.Now().Before(s.EjectedUntil), "the check above ran while bad was ejected")
	require.EqualValues(t, 3, bad.hits.Load(), "an ejected address gets no traffic")

	eventually(t, func() bool { return !status(t, g, bad.addr).Ejected }, "ejection ends")
	eventually(t, func() bool { return testutil.ToFloat64(m.up.WithLabelValues("test", bad.addr)) == 1 }, "up again")
	bad.status.Store(http.StatusOK)
	for range 3 {
		mustGet(t, g)
	}
	require.EqualValues(t, 4, bad.hits.Load(), "back in the rotation")
}

func TestEjectDoublesForConsecutiveEjections(t *testing.T) {
	bad, good := newBackend(t), newBackend(t)
	bad.status.Store(http.StatusBadGateway)
	base := 100 * time.Millisecond
	g, _ := newGroup(t, Config{Addrs: []string{bad.addr, good.addr}, Balance: BalanceRoundRobin,
		Eject: Eject{Failures: 1, For: Duration(base)}})
	var lengths []time.Duration
	for range 3 {
		start := time.Now()
		eventually(t, func() bool { mustGet(t, g); return status(t, g, bad.addr).Ejected }, "ejected")
		lengths = append(lengths, status(t, g, bad.addr).EjectedUntil.Sub(start))
		eventually(t, func() bool { return !status(t, g, bad.addr).Ejected }, "back")
	}
	require.GreaterOrEqual(t, lengths[0], base)
	require.Less(t, lengths[0], 2*base)
	require.GreaterOrEqual(t, lengths[1], 2*base)
	require.GreaterOrEqual(t, lengths[2], 4*base)
}

func TestEjectRespectsMaxPercent(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.status.Store(http.StatusInternalServerError)
	b.status.Store(http.StatusInternalServerError)
	g, m := newGroup(t, Config{Addrs: []string{a.addr, b.addr}, Eject: Eject{Failures: 2, For: Duration(time.Minute)}})
	for range 20 {
		code, _ := mustGet(t, g)
		require.Equal(t, http.StatusInternalServerError, code)
	}
	ejected := 0
	for _, s := range g.Status() {
		if s.Ejected {
			ejected++
		}
	}
	require.Equal(t, 1, ejected, "at most 50%% of 2 addresses")
	total := testutil.ToFloat64(m.ejections.WithLabelValues("test", a.addr)) +
		testutil.ToFloat64(m.ejections.WithLabelValues("test", b.addr))
	require.EqualValues(t, 1, total)
}

func TestEjectPanicSendsToEjectedAddresses(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.status.Store(http.StatusInternalServerError)
	b.status.Store(http.StatusInternalServerError)
	g, _ := newGroup(t, Config{Addrs: []string{a.addr, b.addr}, Balance: BalanceRoundRobin,
		Eject: Eject{Failures: 1, For: Duration(time.Minute), MaxPercent: 100}})
	for range 4 {
		mustGet(t, g)
	}
	for _, s := range g.Status() {
		require.True(t, s.Ejected, s.Addr)
	}
	// Every address ejected, none down: the group keeps sending rather than failing everything.
	before := a.hits.Load() + b.hits.Load()
	for range 4 {
		code, _ := mustGet(t, g)
		require.Equal(t, http.StatusInternalServerError, code)
	}
	require.EqualValues(t, before+4, a.hits.Load()+b.hits.Load())
}
