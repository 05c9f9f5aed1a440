package hotpin_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/hotpin"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

// open returns two tables on one queue namespace, as two processes have.
func open(t *testing.T) (a, b *hotpin.Table) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "hotpin")
	tables := make([]*hotpin.Table, 2)
	for i := range tables {
		q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: ns}, t.TempDir(), obs.Discard())
		require.NoError(t, err)
		t.Cleanup(q.Close)
		tables[i], err = hotpin.Open(context.Background(), q, obs.Discard(), nil)
		require.NoError(t, err)
	}
	return tables[0], tables[1]
}

// seen collects what a watcher was sent.
type seen struct {
	mu   sync.Mutex
	pins map[string]hotpin.Pin // "room.<id>" or the key
	cnt  map[int64]int64
}

func (s *seen) apply(ev hotpin.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Counts != nil {
		s.cnt = ev.Counts
		return
	}
	k := ev.Pin.Key
	if k == "" {
		k = fmt.Sprint("room.", ev.Pin.Room)
	}
	if ev.Gone {
		delete(s.pins, k)
	} else {
		s.pins[k] = ev.Pin
	}
}

func (s *seen) has(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pins[k]
	return ok
}

// A pin written through one process's table reaches another's watcher, and the bucket
// forgets it at its until: the watcher is told.
func TestPinsAreSharedAndExpire(t *testing.T) {
	a, b := open(t)
	ctx := context.Background()
	s := &seen{pins: map[string]hotpin.Pin{}}
	ready, err := b.Watch(t.Context(), s.apply)
	require.NoError(t, err)
	<-ready

	room := "room.7"
	require.NoError(t, a.PinRoom(ctx, 7, time.Now().Add(time.Hour), "final"))
	require.NoError(t, a.PinKey(ctx, "gift_rank:7", time.Now().Add(2*time.Second), "final"))
	require.Eventually(t, func() bool { return s.has(room) && s.has("gift_rank:7") }, 5*time.Second, 10*time.Millisecond)
	s.mu.Lock()
	require.Equal(t, "final", s.pins[room].Reason)
	s.mu.Unlock()

	require.Eventually(t, func() bool { return !s.has("gift_rank:7") }, 10*time.Second, 50*time.Millisecond,
		"the key pin ends at its until")
	require.True(t, s.has(room), "the room pin lasts")

	require.NoError(t, a.PinRoom(ctx, 7, time.Now().Add(time.Minute), "moved"), "a pin replaces an earlier one")
	require.Eventually(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.pins[room].Reason == "moved" },
		5*time.Second, 10*time.Millisecond)
	require.NoError(t, a.UnpinRoom(ctx, 7))
	require.Eventually(t, func() bool { return !s.has(room) }, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, a.PutCounts(ctx, map[int64]int64{1: 10, 2: 0, 3: 30}, 2*time.Second))
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cnt[1] == 10 && s.cnt[3] == 30 && len(s.cnt) == 2
	}, 5*time.Second, 10*time.Millisecond, "counts of watched rooms only")
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cnt != nil && len(s.cnt) == 0
	}, 10*time.Second, 50*time.Millisecond, "counts nobody refreshes are forgotten")
}

func TestKeysAndLimits(t *testing.T) {
	for _, k := range []string{"gift_rank:123", "room:1", "danmaku_mutes:9"} {
		_, _, err := hotpin.SplitKey(k)
		require.NoError(t, err, k)
	}
	for _, k := range []string{"", "gift_rank", "gift_rank:", "gift_rank:0", "gift_rank:-1", "gift_rank:01", "other:1", "room:1:2", "room:x"} {
		_, _, err := hotpin.SplitKey(k)
		require.ErrorIs(t, err, hotpin.ErrBadKey, k)
	}
	a, _ := open(t)
	ctx := context.Background()
	require.ErrorIs(t, a.PinKey(ctx, "nope:1", time.Now().Add(time.Hour), ""), hotpin.ErrBadKey)
	require.Error(t, a.PinRoom(ctx, 1, time.Now().Add(-time.Second), ""), "already over")
	require.Error(t, a.PinRoom(ctx, 1, time.Now().Add(hotpin.MaxPin+time.Hour), ""), "too far ahead")
	require.NoError(t, a.UnpinKey(ctx, "room:5"), "unpinning what is not pinned is fine")
}
