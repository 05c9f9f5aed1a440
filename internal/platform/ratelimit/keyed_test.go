package ratelimit

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiterBurstAndRefill(t *testing.T) {
	l := NewKeyed[int64](1, 3)
	t0 := time.Unix(1000, 0)
	for range 3 {
		ok, _ := l.Allow(7, t0)
		require.True(t, ok)
	}
	ok, wait := l.Allow(7, t0)
	require.False(t, ok)
	require.Equal(t, time.Second, wait)
	ok, wait = l.Allow(7, t0.Add(400*time.Millisecond))
	require.False(t, ok)
	require.Equal(t, 600*time.Millisecond, wait)
	ok, _ = l.Allow(8, t0) // another user has a bucket of their own
	require.True(t, ok)
	ok, _ = l.Allow(7, t0.Add(time.Second))
	require.True(t, ok)
	ok, _ = l.Allow(7, t0.Add(time.Second))
	require.False(t, ok)
}

func TestLimiterUnlimited(t *testing.T) {
	l := NewKeyed[int64](0, 0)
	for range 100 {
		ok, _ := l.Allow(1, time.Unix(0, 0))
		require.True(t, ok)
	}
	require.Zero(t, l.Size())
}

// TestLimiterEvictsIdle: buckets of users gone quiet for a full refill are dropped, so memory
// follows the recently active users only, and the drop changes no decision.
func TestLimiterEvictsIdle(t *testing.T) {
	l := NewKeyed[int64](1, 3) // refills in 3s
	t0 := time.Unix(1000, 0)
	for uid := range int64(10_000) {
		ok, _ := l.Allow(uid, t0)
		require.True(t, ok)
	}
	require.Equal(t, 10_000, l.Size())
	// User 1 keeps sending and spends its burst.
	for range 2 {
		ok, _ := l.Allow(1, t0.Add(time.Second))
		require.True(t, ok)
	}
	// Three seconds later every shard sweeps on its next call: only the users seen since stay.
	later := t0.Add(3 * time.Second)
	for uid := range int64(limiterShards * 50) {
		l.Allow(20_000+uid, later)
	}
	require.Equal(t, limiterShards*50+1, l.Size(), "the new users and user 1")
	// A refreshed bucket behaves exactly as the old one would have: full again.
	much := later.Add(10 * time.Second)
	for range 3 {
		ok, _ := l.Allow(1, much)
		require.True(t, ok)
	}
	ok, _ := l.Allow(1, much)
	require.False(t, ok)
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewKeyed[int64](1, 5)
	now := time.Unix(1000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				if ok, _ := l.Allow(int64(i%10), now); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 10*5, allowed, "each of 10 users gets exactly its burst")
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewKeyed[int64](1, 3)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var uid int64
		for pb.Next() {
			uid++
			l.Allow(uid%100_000, now)
		}
	})
}

func TestStringKeys(t *testing.T) {
	l := NewKeyed[string](1, 2)
	now := time.Unix(1_800_000_000, 0)
	ok, _ := l.Allow("10.0.0.1", now)
	require.True(t, ok)
	ok, _ = l.Allow("10.0.0.1", now)
	require.True(t, ok)
	ok, wait := l.Allow("10.0.0.1", now)
	require.False(t, ok)
	require.Equal(t, time.Second, wait)
	ok, _ = l.Allow("10.0.0.2", now)
	require.True(t, ok, "another address has its own bucket")
}

// SetLimit applies to buckets made before it, at their next call, and keeps what they hold:
// a user who spent the burst does not get a new one because the limit changed.
func TestSetLimitAppliesToExistingBuckets(t *testing.T) {
	l := NewKeyed[int64](1, 2)
	t0 := time.Unix(1000, 0)
	for range 2 {
		ok, _ := l.Allow(1, t0)
		require.True(t, ok)
	}
	ok, _ := l.Allow(1, t0)
	require.False(t, ok)

	l.SetLimit(100, 5, t0) // 100/s: one token every 10ms
	ok, _ = l.Allow(1, t0)
	require.False(t, ok, "the spent bucket stays spent")
	ok, _ = l.Allow(1, t0.Add(10*time.Millisecond))
	require.True(t, ok, "and refills at the new rate")

	// A bucket untouched since the change refills at the new rate from the change on, not
	// from its next use.
	for range 5 {
		ok, _ = l.Allow(2, t0)
		require.True(t, ok)
	}
	l.SetLimit(1000, 5, t0.Add(time.Millisecond))
	for range 5 {
		ok, _ = l.Allow(2, t0.Add(6*time.Millisecond))
		require.True(t, ok, "5ms at 1000/s since the change refilled the burst of 5")
	}
	ok, _ = l.Allow(1, t0.Add(time.Second))
	require.True(t, ok)
	for range 4 {
		ok, _ = l.Allow(1, t0.Add(time.Second))
		require.True(t, ok, "up to the new burst")
	}
	ok, _ = l.Allow(1, t0.Add(time.Second))
	require.False(t, ok)

	l.SetLimit(0, 0, t0.Add(time.Second))
	require.Zero(t, l.Size(), "unlimited holds no buckets")
	for range 100 {
		ok, _ = l.Allow(1, t0.Add(time.Second))
		require.True(t, ok)
	}
	l.SetLimit(1, 1, t0.Add(time.Second))
	ok, _ = l.Allow(1, t0.Add(2*time.Second))
	require.True(t, ok)
	ok, wait := l.Allow(1, t0.Add(2*time.Second))
	require.False(t, ok)
	require.Equal(t, time.Second, wait)
}

// SetLimit races with Allow without a data race (run with -race).
func TestSetLimitConcurrent(t *testing.T) {
	l := NewKeyed[int64](1, 1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				l.Allow(int64(g*10+i%10), time.Now())
			}
		})
	}
	for i := range 200 {
		l.SetLimit(float64(i%3), 1+i%5, time.Now())
	}
	wg.Wait()
}
