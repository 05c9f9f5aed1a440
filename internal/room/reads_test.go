package room

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

func hotConfig() Config {
	hk := hotkey.DefaultConfig()
	hk.ReportInterval = 5 * time.Millisecond
	return Config{MaxRoomsPerUser: 1, MaxListLimit: 50, HotThreshold: 1000, HotCacheTTL: time.Second, HotKeys: hk}
}

func newWith(t testing.TB, db *sqlstore.DB, shared SharedCache) *Service {
	s, err := New(hotConfig(), Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db,
		Accounts: newAccounts(), Pusher: &pushtest.Recorder{}, Shared: shared})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// Without Redis, a hot room is served from memory, and a write in this process is seen at once.
func TestHotRoomReadsAndOwnWrites(t *testing.T) {
	s := newWith(t, sqltest.OpenSQLite(t), nil)
	ctx := context.Background()
	r, err := s.Create(ctx, 1, Fields{Title: str("before")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, _ = s.Get(ctx, r.ID); return s.HotKeys().IsHot(cacheKey(r.ID)) },
		5*time.Second, time.Millisecond)
	_, err = s.Update(ctx, 1, r.ID, Fields{Title: str("after")})
	require.NoError(t, err)
	got, err := s.Get(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, "after", got.Title)
	_, err = s.Get(ctx, 4242)
	require.ErrorIs(t, err, ErrRoomNotFound)
}

// With Redis, two processes share the cache: a hot room read by one is invalidated by a write
// in the other, so the first never serves the old title past the invalidation.
func TestSharedCacheInvalidationAcrossProcesses(t *testing.T) {
	addr := os.Getenv("ZHIBO_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("ZHIBO_TEST_REDIS_ADDR not set: Redis integration test skipped")
	}
	db := sqltest.OpenSQLite(t)
	// Each test run its own key space: room ids restart at 1 in a fresh database.
	prefix := fmt.Sprintf("t%d:", time.Now().UnixNano())
	var a, b *Service
	open := func(hot func() *hotkey.Detector) SharedCache {
		c, err := cache.Open(cache.Config{Addr: addr, LocalTTL: time.Minute, LocalBytes: 1 << 20, Prefix: prefix},
			func(k string) bool { return hot().IsHot(k) }, nil)
		require.NoError(t, err)
		t.Cleanup(c.Close)
		return c
	}
	a = newWith(t, db, open(func() *hotkey.Detector { return a.HotKeys() }))
	b = newWith(t, db, open(func() *hotkey.Detector { return b.HotKeys() }))
	ctx := context.Background()
	r, err := a.Create(ctx, 1, Fields{Title: str("v1")})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := a.Get(ctx, r.ID)
		return err == nil && got.Title == "v1" && a.HotKeys().IsHot(cacheKey(r.ID))
	}, 5*time.Second, time.Millisecond)
	got, err := a.Get(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, r.StreamKey, got.StreamKey, "the stream key survives the shared cache")

	_, err = b.Update(ctx, 1, r.ID, Fields{Title: str("v2")})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := a.Get(ctx, r.ID)
		return err == nil && got.Title == "v2"
	}, 2*time.Second, time.Millisecond, "the other process's write invalidated the hot copy")
}

// BenchmarkRoomGet compares a hot room served from the hot cache with the read-through path
// (the store) in the same run.
func BenchmarkRoomGet(b *testing.B) {
	s := newWith(b, sqltest.OpenSQLite(b), nil)
	ctx := context.Background()
	r, err := s.Create(ctx, 1, Fields{Title: str("bench")})
	require.NoError(b, err)
	for !s.HotKeys().IsHot(cacheKey(r.ID)) {
		_, _ = s.Get(ctx, r.ID)
		time.Sleep(time.Millisecond)
	}
	b.Run("hot", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, r.ID); err != nil {
					b.Error(err)
				}
			}
		})
	})
	b.Run("read_through", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.store.Get(ctx, r.ID); err != nil {
					b.Error(err)
				}
			}
		})
	})
}

// A room hot by its audience (room.hot_threshold) or by a pin is kept in memory from its first
// read, before its reads alone would make it hot.
func TestRoomHotByAudienceOrPinIsKeptInMemory(t *testing.T) {
	tr := hotroom.New(nil)
	cfg := hotConfig()
	cfg.HotKeys.MinCount = 1 << 30 // reads never make a key hot here
	s, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: sqltest.OpenSQLite(t),
		Accounts: newAccounts(), Pusher: &pushtest.Recorder{}, Hot: tr})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	a, err := s.Create(ctx, 1, Fields{Title: str("a")})
	require.NoError(t, err)
	b, err := s.Create(ctx, 2, Fields{Title: str("b")})
	require.NoError(t, err)

	_, err = s.Get(ctx, a.ID)
	require.NoError(t, err)
	require.False(t, s.HotKeys().IsHot(cacheKey(a.ID)))
	tr.Update(map[int64]int64{a.ID: 1000})
	_, err = s.Get(ctx, a.ID)
	require.NoError(t, err)
	require.True(t, s.HotKeys().IsHot(cacheKey(a.ID)), "hot by its audience")
	tr.PinRoom(b.ID, time.Now().Add(time.Hour), "event")
	_, err = s.Get(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, s.HotKeys().IsHot(cacheKey(b.ID)), "pinned")
}
