package hotroom

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestThresholdIsTheCallers(t *testing.T) {
	tr := New(nil)
	tr.Update(map[int64]int64{1: 10_000, 2: 60_000, 3: 5})
	require.True(t, tr.IsHot(1, 5_000), "hot for a caller that switches early")
	require.False(t, tr.IsHot(1, 50_000), "not for one that switches late")
	require.True(t, tr.IsHot(2, 50_000))
	require.False(t, tr.IsHot(4, 1), "unknown room")
	require.False(t, tr.IsHot(3, 0), "threshold 0 never matches by count")
	require.Equal(t, []Room{{ID: 2, Online: 60_000}, {ID: 1, Online: 10_000}}, tr.List(5_000))

	tr.Update(map[int64]int64{2: 100})
	require.False(t, tr.IsHot(1, 5_000), "a room absent from the new counts cooled off")
}

func TestPinsAheadOfAnEvent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tr := New(func() time.Time { return now })
	tr.PinRoom(9, now.Add(time.Hour), "final")
	require.True(t, tr.IsHot(9, 1_000_000), "pinned before any viewer arrives")
	list := tr.List(1_000_000)
	require.Len(t, list, 1)
	require.Equal(t, "final", list[0].Pinned.Reason)
	now = now.Add(2 * time.Hour)
	require.False(t, tr.IsHot(9, 1_000_000), "the pin expired")
	require.Empty(t, tr.List(1_000_000))
	tr.PinRoom(9, now.Add(time.Minute), "again")
	tr.Unpin(9)
	require.False(t, tr.IsHot(9, 1))
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	tr := New(nil)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 1000 {
				tr.Update(map[int64]int64{int64(j % 10): int64(j)})
				tr.PinRoom(int64(i), time.Now().Add(time.Minute), "x")
			}
		}()
		go func() {
			defer wg.Done()
			for j := range 1000 {
				tr.IsHot(int64(j%10), 500)
				tr.List(500)
			}
		}()
	}
	wg.Wait()
	for i := range 4 {
		require.True(t, tr.IsHot(int64(i), 1<<40))
	}
}

func BenchmarkIsHot(b *testing.B) {
	tr := New(nil)
	counts := map[int64]int64{}
	for i := range 100_000 {
		counts[int64(i)] = int64(i)
	}
	tr.Update(counts)
	tr.PinRoom(7, time.Now().Add(time.Hour), "event")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int64(0)
		for pb.Next() {
			tr.IsHot(i%100_000, 50_000)
			i++
		}
	})
}

// SetPins replaces the pins of one reason as a set and leaves pins made for other reasons.
func TestSetPinsReplacesOneReason(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tr := New(func() time.Time { return now })
	forever := now.Add(24 * time.Hour)
	tr.SetPins([]int64{1, 2}, forever, "config")
	tr.PinRoom(3, now.Add(time.Hour), "by hand")
	require.True(t, tr.IsHot(1, 0) && tr.IsHot(2, 0) && tr.IsHot(3, 0))

	tr.SetPins([]int64{2, 4}, forever, "config")
	require.False(t, tr.IsHot(1, 0), "dropped from the list: unpinned")
	require.True(t, tr.IsHot(2, 0))
	require.True(t, tr.IsHot(4, 0), "added to the list: pinned")
	require.True(t, tr.IsHot(3, 0), "a pin made by hand stays")

	tr.SetPins(nil, forever, "config")
	require.False(t, tr.IsHot(2, 0) || tr.IsHot(4, 0))
	require.True(t, tr.IsHot(3, 0))
}

// Pinned reports a pin only while it lasts.
func TestPinned(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tr := New(func() time.Time { return now })
	_, ok := tr.Pinned(1)
	require.False(t, ok)
	tr.PinRoom(1, now.Add(time.Minute), "event")
	p, ok := tr.Pinned(1)
	require.True(t, ok)
	require.Equal(t, "event", p.Reason)
	now = now.Add(time.Minute)
	_, ok = tr.Pinned(1)
	require.False(t, ok, "ended")
}
