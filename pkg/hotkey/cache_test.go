package hotkey

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// countingLoader mimics a read-through: a map lookup under a mutex, counting calls per key.
type countingLoader struct {
	mu    sync.Mutex
	data  map[string]int
	calls map[string]int
	gate  chan struct{} // when set, loads wait for it
}

func newLoader() *countingLoader {
	l := &countingLoader{data: map[string]int{}, calls: map[string]int{}}
	for i := range 1000 {
		l.data["k"+strconv.Itoa(i)] = i
	}
	return l
}

func (l *countingLoader) load(ctx context.Context, key string) (int, error) {
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[key]++
	v, ok := l.data[key]
	if !ok {
		return 0, errors.New("not found")
	}
	return v, nil
}

func (l *countingLoader) n(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[key]
}

func TestCacheServesHotKeysAndReadsThroughColdOnes(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := newStarted(t, Config{K: 2, Seed: 1, Registerer: reg, Window: 0, WindowEvents: 0})
	l := newLoader()
	c, err := NewCache(d, CacheConfig{TTL: time.Hour}, l.load)
	require.NoError(t, err)
	ctx := context.Background()

	d.Add("k1", 1000)
	require.Eventually(t, func() bool { return d.IsHot("k1") }, time.Second, 5*time.Millisecond)
	for range 100 {
		v, err := c.Get(ctx, "k1")
		require.NoError(t, err)
		require.Equal(t, 1, v)
	}
	require.Equal(t, 1, l.n("k1"), "hot key loaded once per TTL")
	for range 5 {
		v, err := c.Get(ctx, "k500")
		require.NoError(t, err)
		require.Equal(t, 500, v)
	}
	require.Equal(t, 5, l.n("k500"), "cold key reads through every time")
	require.Equal(t, 1, c.Len())
	require.Equal(t, 99.0, testutil.ToFloat64(c.m.hits))
	require.Equal(t, 6.0, testutil.ToFloat64(c.m.misses))

	// k1 cools off: two hotter keys push it out of the top 2, and its entry is evicted.
	d.Add("k2", 5000)
	d.Add("k3", 5000)
	require.Eventually(t, func() bool { return c.Len() == 0 }, time.Second, 5*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.evictions))
	_, err = c.Get(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, 2, l.n("k1"))
}

func TestCacheTTLSizeErrorsAndSharedLoads(t *testing.T) {
	d := newStarted(t, Config{K: 10, Seed: 1})
	l := newLoader()
	c, err := NewCache(d, CacheConfig{Size: 2, TTL: 30 * time.Millisecond}, l.load)
	require.NoError(t, err)
	ctx := context.Background()
	for _, k := range []string{"k1", "k2", "k3", "missing"} {
		d.Pin(k, time.Now().Add(time.Hour))
	}

	_, err = c.Get(ctx, "missing")
	require.Error(t, err)
	_, err = c.Get(ctx, "missing")
	require.Error(t, err)
	require.Equal(t, 2, l.n("missing"), "errors are not cached")

	_, _ = c.Get(ctx, "k1")
	_, _ = c.Get(ctx, "k1")
	require.Equal(t, 1, l.n("k1"))
	require.Eventually(t, func() bool { _, _ = c.Get(ctx, "k1"); return l.n("k1") == 2 }, time.Second, 5*time.Millisecond,
		"reloaded after TTL")

	_, _ = c.Get(ctx, "k2")
	_, _ = c.Get(ctx, "k3")
	require.Equal(t, 2, c.Len(), "bounded size")
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.evictions))

	// Concurrent Gets of one hot key share one load.
	l.gate = make(chan struct{})
	d.Pin("k9", time.Now().Add(time.Hour))
	hits := testutil.ToFloat64(c.m.hits)
	var wg sync.WaitGroup
	var got atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get(ctx, "k9")
			if err == nil {
				got.Add(int64(v))
			}
		}()
	}
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.m.hits) == hits+7 }, time.Second, time.Millisecond,
		"seven Gets wait for the one gated load")
	close(l.gate)
	wg.Wait()
	require.Equal(t, int64(8*9), got.Load())
	require.Equal(t, 1, l.n("k9"))
}

func TestCacheConfig(t *testing.T) {
	d, err := New(Config{Seed: 1, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	_, err = NewCache[int](d, CacheConfig{}, nil)
	require.Error(t, err)
	_, err = NewCache(d, CacheConfig{Size: -1}, newLoader().load)
	require.Error(t, err)
	_, err = NewCache(d, CacheConfig{Name: "a"}, newLoader().load)
	require.NoError(t, err)
	_, err = NewCache(d, CacheConfig{Name: "a"}, newLoader().load)
	require.Error(t, err, "a second cache of the same name collides on the registry")
	_, err = NewCache(d, CacheConfig{Name: "b"}, newLoader().load)
	require.NoError(t, err)
}
