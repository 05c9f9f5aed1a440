package aggregate

import (
	"context"
	"errors"
	"flag"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// memSink is a FlushFunc keeping totals and every batch it was given.
type memSink[K comparable] struct {
	mu      sync.Mutex
	totals  map[K]int64
	batches []map[K]int64
	fail    atomic.Int32 // flushes still to fail
}

func newMemSink[K comparable]() *memSink[K] { return &memSink[K]{totals: map[K]int64{}} }

func (s *memSink[K]) flush(_ context.Context, b map[K]int64) error {
	if s.fail.Load() > 0 {
		s.fail.Add(-1)
		return errors.New("sink down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range b {
		s.totals[k] += v
	}
	s.batches = append(s.batches, maps.Clone(b))
	return nil
}

func (s *memSink[K]) total(k K) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals[k]
}

// writes counts the batches that wrote key.
func (s *memSink[K]) writes(k K) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.batches {
		if _, ok := b[k]; ok {
			n++
		}
	}
	return n
}

func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

func TestConfigFlagsAndValidate(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "x.")
	require.Equal(t, Config{Window: time.Second, MaxPending: 100_000}, c)
	require.NoError(t, fs.Parse([]string{"-x.window=250ms", "-x.max_pending=7"}))
	require.Equal(t, Config{Window: 250 * time.Millisecond, MaxPending: 7}, c)
	require.NoError(t, c.Validate())
	require.Error(t, (&Config{Window: -1}).Validate())
	require.Error(t, (&Config{MaxPending: -1}).Validate())
	require.Equal(t, Config{Window: DefaultWindow, MaxPending: DefaultMaxPending}, Config{}.withDefaults())
}

func TestFoldsOneWritePerKeyPerFlush(t *testing.T) {
	sink := newMemSink[string]()
	reg := prometheus.NewRegistry()
	a, err := New(Config{Window: time.Hour}, sink.flush, Options{Name: "t", Registry: reg})
	require.NoError(t, err)
	for range 100 {
		a.Add("a", 2)
		a.Add("b", -1)
	}
	a.Add("zero", 1)
	a.Add("zero", -1)
	require.Equal(t, 3, a.Pending())
	require.NoError(t, a.Flush(context.Background()))
	require.Equal(t, []map[string]int64{{"a": 200, "b": -100}}, sink.batches, "a key summing to zero writes nothing")
	require.Zero(t, a.Pending())
	require.Equal(t, Stats{Increments: 202, Flushes: 1, KeysWritten: 2}, a.Stats())
	require.Equal(t, float64(202), testutil.ToFloat64(a.m.increments))
	require.Equal(t, float64(2), testutil.ToFloat64(a.m.keys))
	n, err := testutil.GatherAndCount(reg, "zhibo_aggregate_keys_written_total", "zhibo_aggregate_flushes_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// Nothing pending: no call of the sink.
	require.NoError(t, a.Flush(context.Background()))
	require.Len(t, sink.batches, 1)

	// Two aggregations may share a registry under different names, not under one.
	_, err = New(Config{}, sink.flush, Options{Name: "u", Registry: reg})
	require.NoError(t, err)
	_, err = New(Config{}, sink.flush, Options{Name: "t", Registry: reg})
	require.Error(t, err)
	_, err = New[string](Config{}, nil, Options{})
	require.Error(t, err)
}

func TestWindowAndMaxPendingTriggerFlushes(t *testing.T) {
	sink := newMemSink[int]()
	a, err := New(Config{Window: 20 * time.Millisecond}, sink.flush, Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	require.Error(t, a.Start(context.Background()))
	a.Add(1, 5)
	eventually(t, func() bool { return sink.total(1) == 5 }, "window did not flush")
	require.NoError(t, a.Stop(context.Background()))

	sink = newMemSink[int]()
	a, err = New(Config{Window: time.Hour, MaxPending: 10}, sink.flush, Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	for k := range 10 {
		a.Add(k, 1)
	}
	eventually(t, func() bool { return sink.total(9) == 1 }, "MaxPending keys did not flush early")
	require.NoError(t, a.Stop(context.Background()))
}

func TestStopFlushesAndFailedFlushKeepsDeltas(t *testing.T) {
	sink := newMemSink[string]()
	a, err := New(Config{Window: time.Hour}, sink.flush, Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	a.Add("k", 3)
	sink.fail.Store(1)
	require.Error(t, a.Flush(context.Background()))
	require.Equal(t, 1, a.Pending(), "the failed flush's delta is kept")
	a.Add("k", 4) // folded with the kept delta
	require.NoError(t, a.Stop(context.Background()))
	require.Equal(t, int64(7), sink.total("k"))
	require.Equal(t, 1, sink.writes("k"))
	require.Equal(t, Stats{Increments: 2, Flushes: 1, FlushErrors: 1, KeysWritten: 1}, a.Stats())

	// A final flush that fails is reported and keeps the deltas for a later Flush.
	require.NoError(t, a.Start(context.Background()))
	a.Add("k", 1)
	sink.fail.Store(1)
	require.Error(t, a.Stop(context.Background()))
	require.NoError(t, a.Flush(context.Background()))
	require.Equal(t, int64(8), sink.total("k"))
}

// Adds racing with flushes (some failing) lose nothing and count nothing twice.
func TestConcurrentAddsAreExact(t *testing.T) {
	sink := newMemSink[int]()
	a, err := New(Config{Window: time.Millisecond, MaxPending: 50}, sink.flush, Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20_000 {
				a.Add(i%100, int64(g+1))
				if i%5000 == 0 {
					sink.fail.Store(1)
				}
			}
		})
	}
	wg.Wait()
	// The sink is back for the final flush: a failure set by the last adds may not have met a
	// flush of the background loop yet.
	sink.fail.Store(0)
	require.NoError(t, a.Stop(context.Background()))
	var sum int64
	for k := range 100 {
		sum += sink.total(k)
	}
	require.Equal(t, int64(20_000*(1+2+3+4+5+6+7+8)), sum)
	require.Equal(t, uint64(8*20_000), a.Stats().Increments)
}

func BenchmarkAdd(b *testing.B) {
	a, err := New(Config{Window: time.Hour}, newMemSink[int64]().flush, Options{})
	require.NoError(b, err)
	i := int64(0)
	for b.Loop() {
		i++
		a.Add(i&1023, 1)
	}
}

// BenchmarkAddParallelOneKey is the gift storm's shape: every goroutine on one hot key.
func BenchmarkAddParallelOneKey(b *testing.B) {
	a, err := New(Config{Window: time.Hour}, newMemSink[int64]().flush, Options{})
	require.NoError(b, err)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Add(1, 1)
		}
	})
}

func BenchmarkAddParallelManyKeys(b *testing.B) {
	a, err := New(Config{Window: time.Hour, MaxPending: 1 << 30}, newMemSink[int64]().flush, Options{})
	require.NoError(b, err)
	var seed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(1) << 32
		for pb.Next() {
			i++
			a.Add(i&65535, 1)
		}
	})
}
