package hotkey

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInvalidateDropsAHotEntry(t *testing.T) {
	det, err := New(Config{K: 4, ReportInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, det.Start(context.Background()))
	defer det.Stop(context.Background())
	version := 1
	c, err := NewCache(det, CacheConfig{TTL: time.Hour}, func(context.Context, string) (int, error) { return version, nil })
	require.NoError(t, err)
	ctx := context.Background()
	require.Eventually(t, func() bool { _, _ = c.Get(ctx, "k"); return det.IsHot("k") }, 5*time.Second, 5*time.Millisecond)
	v, _ := c.Get(ctx, "k")
	require.Equal(t, 1, v)
	version = 2
	v, _ = c.Get(ctx, "k")
	require.Equal(t, 1, v, "served from memory while hot")
	c.Invalidate("k")
	v, _ = c.Get(ctx, "k")
	require.Equal(t, 2, v, "reloaded after the write")
}
