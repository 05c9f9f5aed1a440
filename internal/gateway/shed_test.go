package gateway

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// slow holds every request to /api/slow until release is closed.
type slow struct {
	release chan struct{}
	in      *atomic.Int64
}

func (s slow) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/slow", func(w http.ResponseWriter, _ *http.Request) {
		s.in.Add(1)
		<-s.release
		_, _ = w.Write([]byte(`{"code":0}`))
	})
}

// An overloaded node sheds instead of queueing: with the CPU taken as over its threshold (a
// threshold of 0, which any reading passes) and requests stuck in flight beyond what the node
// has shown it serves (an idle limiter has seen at most one at a time), the next API request is answered 503 overloaded at once — while health,
// readiness, metrics and /sub are still served. Once the stuck requests finish, requests pass
// again.
func TestAdaptiveShedsUnderOverload(t *testing.T) {
	s := slow{release: make(chan struct{}), in: &atomic.Int64{}}
	cfg := limitConfig()
	reg := prometheus.NewRegistry()
	sub := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: reg, Gatherer: reg, Routes: []Routes{s, route{}}, Sub: sub})
	require.NoError(t, err)
	h := g.Handler()
	require.Nil(t, g.shed.bbr.Load(), "off by default")

	// Overload: the limiter's CPU source reads 100 % against a threshold of 0.
	g.shed.bbr.Store(newBBR(0, func() int64 { return 1000 }))
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { require.Equal(t, 200, do(h, "GET", "/api/slow", "", "10.0.0.1").status) })
		require.Eventually(t, func() bool { return s.in.Load() == int64(i+1) }, 5*time.Second, time.Millisecond)
	}

	start := time.Now()
	a := do(h, "GET", "/api/ping", "", "10.0.0.2")
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Equal(t, "overloaded", a.reason)
	require.Equal(t, -503, a.code)
	require.Less(t, time.Since(start), 2*time.Second, "answered, not queued behind the held requests (which never finish unless released)")
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		require.Equal(t, 200, do(h, "GET", p, "", "10.0.0.2").status, p)
	}
	require.Equal(t, 299, do(h, "GET", "/sub", "", "10.0.0.2").status, "/sub is never shed")
	require.Equal(t, 1.0, testutil.ToFloat64(g.shed.shed))

	close(s.release)
	wg.Wait()
	require.Equal(t, 200, do(h, "GET", "/api/ping", "", "10.0.0.2").status, "nothing in flight: served")

	// Without the adaptive limit the same pile-up is simply served.
	g.shed.set(false, 800)
	s2 := slow{release: make(chan struct{}), in: &atomic.Int64{}}
	g2, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Routes: []Routes{s2, route{}}})
	require.NoError(t, err)
	for range 3 {
		wg.Go(func() { require.Equal(t, 200, do(g2.Handler(), "GET", "/api/slow", "", "10.0.0.1").status) })
	}
	require.Eventually(t, func() bool { return s2.in.Load() == 3 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 200, do(g2.Handler(), "GET", "/api/ping", "", "10.0.0.2").status)
	close(s2.release)
	wg.Wait()
}

// gateway.adaptive is live: a reload turns it on and off.
func TestAdaptiveReload(t *testing.T) {
	cfg := limitConfig()
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Routes: []Routes{route{}}})
	require.NoError(t, err)
	cfg.Adaptive = true
	require.NoError(t, g.Reload(cfg))
	require.NotNil(t, g.shed.bbr.Load())
	require.Equal(t, 200, do(g.Handler(), "GET", "/api/ping", "", "10.0.0.1").status, "an idle node serves")
	cfg.Adaptive = false
	require.NoError(t, g.Reload(cfg))
	require.Nil(t, g.shed.bbr.Load())
	cfg.AdaptiveCPUThreshold = 0
	require.Error(t, g.Reload(cfg))
}

// The limit follows what the node has shown it serves: most passed per bucket × least mean
// latency. Under the CPU threshold nothing is refused, except for a second after a refusal.
func TestBBRLimitFollowsThroughputAndLatency(t *testing.T) {
	var cpu int64 // under the threshold while the node shows what it serves
	clock := time.Unix(1000, 0)
	b := newBBR(800, func() int64 { return cpu })
	b.now = func() time.Time { return clock }
	require.EqualValues(t, 1, b.maxInFlight(), "nothing seen yet")

	// 50 requests of 20 ms each end in one 100 ms bucket: 50 × 10 buckets/s × 0.02 s = 10.
	var dones []func()
	for range 50 {
		done, ok := b.allow()
		require.True(t, ok, "under the threshold nothing is refused")
		dones = append(dones, done)
	}
	clock = clock.Add(20 * time.Millisecond)
	for _, d := range dones {
		d()
	}
	clock = clock.Add(100 * time.Millisecond) // that bucket is finished
	require.EqualValues(t, 10, b.maxInFlight())

	// Over the threshold: up to 10 in flight (the 11th is admitted at 10, as "more than"),
	// then refused.
	cpu = 900
	dones = dones[:0]
	for i := range 11 {
		done, ok := b.allow()
		require.True(t, ok, "request %d", i)
		dones = append(dones, done)
	}
	_, ok := b.allow()
	require.False(t, ok, "over the concurrency the node has shown, while the CPU is high")

	// The CPU falls: refusals go on for a second after the last one, then stop.
	cpu = 100
	_, ok = b.allow()
	require.False(t, ok, "cooling down")
	clock = clock.Add(1100 * time.Millisecond)
	done, ok := b.allow()
	require.True(t, ok, "cooled down")
	done()
	for _, d := range dones {
		d()
	}
}

func TestProcessCPUIsRead(t *testing.T) {
	stop := time.Now().Add(700 * time.Millisecond)
	processCPU()
	for time.Now().Before(stop) { // keep a core busy so the reading moves
	}
	require.Eventually(t, func() bool { return processCPU() > 0 }, 3*time.Second, 50*time.Millisecond,
		"the process's CPU use is read from runtime/metrics")
}
