package ids

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIdsIncreaseAndCarryNodeAndTime(t *testing.T) {
	g, err := New(7)
	require.NoError(t, err)
	prev := int64(0)
	for range 100000 {
		id := g.MustNext()
		require.Greater(t, id, prev)
		prev = id
	}
	require.Equal(t, int64(7), Node(prev))
	require.WithinDuration(t, time.Now(), Time(prev), 2*time.Second)
}

func TestUniqueAcrossGoroutinesAndNodes(t *testing.T) {
	a, _ := New(1)
	b, _ := New(2)
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for _, g := range []*Generator{a, a, b, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]int64, 0, 20000)
			for range 20000 {
				local = append(local, g.MustNext())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				require.False(t, seen[id], "duplicate id %d", id)
				seen[id] = true
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, 80000)
}

func TestClock(t *testing.T) {
	_, err := New(MaxNode + 1)
	require.Error(t, err)
	g, _ := New(0)
	now := Epoch.Add(time.Hour)
	g.now = func() time.Time { return now }
	first := g.MustNext()
	now = now.Add(-500 * time.Millisecond) // small slew: still increasing
	require.Greater(t, g.MustNext(), first)
	now = now.Add(-5 * time.Second)
	_, err = g.Next()
	require.ErrorIs(t, err, ErrClockBackwards)
}

func BenchmarkNext(b *testing.B) {
	g, _ := New(1)
	b.ReportAllocs()
	for b.Loop() {
		g.MustNext()
	}
}

func TestFirstBoundsTheIdsOfAMillisecond(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	g, err := New(MaxNode)
	require.NoError(t, err)
	for _, now := range []time.Time{at.Add(-time.Millisecond), at, at.Add(time.Millisecond)} {
		g.now, g.last = func() time.Time { return now }, 0
		id := g.MustNext()
		require.Equal(t, now.Before(at), id < First(at), "id made at %s against First(%s)", now, at)
		require.Equal(t, now, Time(First(now)))
	}
	require.Zero(t, First(Epoch))
}
