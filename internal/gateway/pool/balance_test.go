package pool

import (
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	g, m := newGroup(t, Config{Addrs: []string{bs[0].addr, bs[1].addr, bs[2].addr}, Balance: BalanceRoundRobin})
	for range 30 {
		code, _ := mustGet(t, g)
		require.Equal(t, http.StatusOK, code)
	}
	for _, b := range bs {
		require.EqualValues(t, 10, b.hits.Load(), "backend %s", b.addr)
		require.Equal(t, "client.example", *b.host.Load(), "the caller's Host is kept")
		require.EqualValues(t, 10, testutil.ToFloat64(m.requests.WithLabelValues("test", b.addr, resultOK)))
		require.EqualValues(t, 1, testutil.ToFloat64(m.up.WithLabelValues("test", b.addr)))
	}
}

func TestLeastRequestAvoidsBusyAddress(t *testing.T) {
	busy, idle := newBackend(t), newBackend(t)
	busy.hold = make(chan struct{})
	g, m := newGroup(t, Config{Addrs: []string{busy.addr, idle.addr}}) // least_request by default

	// Send requests one at a time until one is held open on busy.
	var wg sync.WaitGroup
	defer wg.Wait()
	release := sync.OnceFunc(func() { close(busy.hold) })
	defer release()
	for busy.held.Load() == 0 {
		before := idle.hits.Load()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = do(t, g, http.MethodGet, nil)
		}()
		eventually(t, func() bool { return busy.held.Load() == 1 || idle.hits.Load() > before }, "request answered")
	}
	require.EqualValues(t, 1, status(t, g, busy.addr).InFlight)
	require.EqualValues(t, 1, testutil.ToFloat64(m.inFlight.WithLabelValues("test", busy.addr)))

	idleBefore := idle.hits.Load()
	for range 20 {
		_, from := mustGet(t, g)
		require.Equal(t, idle.addr, from, "the address with a request in flight is avoided")
	}
	require.EqualValues(t, 20, idle.hits.Load()-idleBefore)
	require.EqualValues(t, 1, busy.hits.Load())

	release()
	eventually(t, func() bool { return status(t, g, busy.addr).InFlight == 0 }, "in flight ends with the body")
	require.EqualValues(t, 0, testutil.ToFloat64(m.inFlight.WithLabelValues("test", busy.addr)))
}

func TestLeastRequestTiesGoRoundRobin(t *testing.T) {
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	g, _ := newGroup(t, Config{Addrs: []string{bs[0].addr, bs[1].addr, bs[2].addr}})
	for range 30 { // one at a time: nothing in flight, every choice a tie
		mustGet(t, g)
	}
	for _, b := range bs {
		require.EqualValues(t, 10, b.hits.Load(), "backend %s", b.addr)
	}
}

func TestPickLeavesOutTriedAddresses(t *testing.T) {
	for _, balance := range []string{BalanceLeastRequest, BalanceRoundRobin} {
		g, _ := newGroup(t, Config{Addrs: []string{"http://a:1", "http://b:1", "http://c:1"}, Balance: balance})
		a, b, c := g.addrs[0], g.addrs[1], g.addrs[2]
		for range 20 {
			u, err := g.pick([]*upstream{a})
			require.NoError(t, err)
			require.NotEqual(t, a, u, balance)
			u, err = g.pick([]*upstream{a, c})
			require.NoError(t, err)
			require.Equal(t, b, u, balance)
			u, err = g.pick([]*upstream{a, b, c})
			require.NoError(t, err, "every address tried: any will do")
			require.NotNil(t, u)
		}
	}
}
