package cache

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// EnvRedis names the variable with the Redis address for integration tests.
const EnvRedis = "ZHIBO_TEST_REDIS_ADDR"

func open(t *testing.T, hot func(string) bool) *Redis {
	addr := os.Getenv(EnvRedis)
	if addr == "" {
		t.Skip(EnvRedis + " not set: Redis integration test skipped")
	}
	r, err := Open(Config{Addr: addr, LocalTTL: time.Minute, LocalBytes: 1 << 20}, hot, prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r
}

// A hot key is served from process memory after the first read, and a write by another process
// invalidates that copy: the next read sees the new value, never the old one for longer than
// the invalidation takes.
func TestHotKeyLocalCopyIsInvalidatedByWrites(t *testing.T) {
	key := fmt.Sprintf("zhibo:test:%d", time.Now().UnixNano())
	reader := open(t, func(k string) bool { return k == key })
	writer := open(t, nil)
	ctx := context.Background()
	t.Cleanup(func() { _ = writer.Del(ctx, key) })

	_, ok, err := reader.Get(ctx, key)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, writer.Set(ctx, key, []byte("v1"), time.Minute))
	require.Eventually(t, func() bool {
		v, ok, err := reader.Get(ctx, key)
		return err == nil && ok && string(v) == "v1"
	}, 5*time.Second, 5*time.Millisecond)
	for range 10 {
		v, _, err := reader.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, "v1", string(v))
	}
	require.GreaterOrEqual(t, testutil.ToFloat64(reader.reads.WithLabelValues("local")), 9.0, "served from process memory")

	require.NoError(t, writer.Set(ctx, key, []byte("v2"), time.Minute))
	start := time.Now()
	require.Eventually(t, func() bool {
		v, _, err := reader.Get(ctx, key)
		return err == nil && string(v) == "v2"
	}, 2*time.Second, time.Millisecond, "the write invalidated the local copy")
	t.Logf("invalidation seen after %v", time.Since(start))

	require.NoError(t, writer.Del(ctx, key))
	require.Eventually(t, func() bool {
		_, ok, err := reader.Get(ctx, key)
		return err == nil && !ok
	}, 2*time.Second, time.Millisecond)
}

// Cold keys are plain GETs: nothing is kept locally.
func TestColdKeysAreNotCachedLocally(t *testing.T) {
	key := fmt.Sprintf("zhibo:test:cold:%d", time.Now().UnixNano())
	r := open(t, func(string) bool { return false })
	ctx := context.Background()
	t.Cleanup(func() { _ = r.Del(ctx, key) })
	require.NoError(t, r.Set(ctx, key, []byte("x"), time.Minute))
	for range 5 {
		v, ok, err := r.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "x", string(v))
	}
	require.Equal(t, 0.0, testutil.ToFloat64(r.reads.WithLabelValues("local")))
	require.Equal(t, 5.0, testutil.ToFloat64(r.reads.WithLabelValues("hit")))
}
