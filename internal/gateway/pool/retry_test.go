package pool

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRetryGetOnClosedPortSucceeds(t *testing.T) {
	good, dead := newBackend(t), closedAddr(t)
	g, m := newGroup(t, Config{Addrs: []string{dead, good.addr}, Balance: BalanceRoundRobin,
		Retries: 1, Eject: Eject{Failures: EjectOff}})
	for range 6 {
		code, from := mustGet(t, g)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, good.addr, from)
	}
	require.EqualValues(t, 3, testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent)))
	require.EqualValues(t, 3, testutil.ToFloat64(m.requests.WithLabelValues("test", dead, resultError)))
	require.EqualValues(t, 6, testutil.ToFloat64(m.requests.WithLabelValues("test", good.addr, resultOK)))
}

func TestRetryPostIsNotRetried(t *testing.T) {
	good, dead := newBackend(t), closedAddr(t)
	g, m := newGroup(t, Config{Addrs: []string{dead, good.addr}, Balance: BalanceRoundRobin,
		Retries: 2, Eject: Eject{Failures: EjectOff}})
	var failed int
	for range 4 {
		_, _, err := do(t, g, http.MethodPost, strings.NewReader("gift"))
		if err != nil {
			failed++
			require.True(t, errors.Is(err, syscall.ECONNREFUSED), "got %v", err)
			require.Contains(t, err.Error(), dead, "the error names the address")
		}
	}
	require.Equal(t, 2, failed, "every POST sent to the dead address fails")
	require.EqualValues(t, 0, testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent)))
}

func TestRetryOn503GoesToAnotherAddress(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.status.Store(http.StatusServiceUnavailable)
	g, m := newGroup(t, Config{Addrs: []string{a.addr, b.addr}, Retries: 3, Eject: Eject{Failures: EjectOff}})
	for range 10 {
		code, from := mustGet(t, g)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, b.addr, from)
	}
	// A retry never goes back to the address that just failed while another remains.
	require.Equal(t, testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent)),
		testutil.ToFloat64(m.requests.WithLabelValues("test", a.addr, result5xx)))
	require.EqualValues(t, 0, status(t, g, a.addr).InFlight, "the discarded 503's body is closed")

	// A 500 is the upstream's answer, not a failure to serve: it is not retried.
	a.status.Store(http.StatusInternalServerError)
	b.status.Store(http.StatusInternalServerError)
	sent := testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent))
	code, _ := mustGet(t, g)
	require.Equal(t, http.StatusInternalServerError, code)
	require.Equal(t, sent, testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent)))
}

func TestRetryWithBodyNeedsGetBody(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.status.Store(http.StatusBadGateway)
	g, m := newGroup(t, Config{Addrs: []string{a.addr, b.addr}, Balance: BalanceRoundRobin,
		Retries: 1, Eject: Eject{Failures: EjectOff}})
	// httptest.NewRequest sets no GetBody: a PUT with a body is sent once.
	code, from, err := do(t, g, http.MethodPut, strings.NewReader("x"))
	require.NoError(t, err)
	require.Equal(t, http.StatusBadGateway, code)
	require.Equal(t, a.addr, from)

	// http.NewRequest sets GetBody for a strings.Reader: the PUT is retried with its body.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://placeholder.invalid/", strings.NewReader("x"))
	require.NoError(t, err)
	mustGet(t, g) // to b, so the PUT starts on a again
	resp, err := g.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 1, testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent)))
}

func TestRetryBudgetExhaustionIsCounted(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.status.Store(http.StatusServiceUnavailable)
	b.status.Store(http.StatusServiceUnavailable)
	g, m := newGroup(t, Config{Addrs: []string{a.addr, b.addr}, Retries: 1, RetryBudget: 0.1,
		Eject: Eject{Failures: EjectOff}})
	const n = 60
	for range n {
		code, _ := mustGet(t, g)
		require.Equal(t, http.StatusServiceUnavailable, code)
	}
	sent := testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent))
	exhausted := testutil.ToFloat64(m.retries.WithLabelValues("test", retryExhausted))
	require.EqualValues(t, n, sent+exhausted, "every request wanted one retry")
	// 3 a second over 10 s, plus a tenth of the requests.
	require.LessOrEqual(t, sent, float64(budgetMin)+0.1*n)
	require.Greater(t, exhausted, 0.0)
}

func TestRetryNeverAfterContextDone(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.hold = make(chan struct{}) // never released: a answers only when the client leaves
	g, m := newGroup(t, Config{Addrs: []string{a.addr, b.addr}, Balance: BalanceRoundRobin, Retries: 1})
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://placeholder.invalid/", nil)
	require.NoError(t, err)
	go func() {
		for a.held.Load() == 0 {
			runtime.Gosched()
		}
		cancel()
	}()
	_, err = g.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 0, testutil.ToFloat64(m.retries.WithLabelValues("test", retrySent)))
	require.EqualValues(t, 0, b.hits.Load())
	require.EqualValues(t, 0, status(t, g, a.addr).Failures, "a client that left is not the upstream's failure")
}
