package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLikesCache: totals are read from the store at most once per window per room, a
// flush's totals replace them at once, and a failed read is not cached.
func TestLikesCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newLikesCache(time.Second, func() time.Time { return now })
	loads := 0
	store := map[int64]int64{1: 5}
	var fail error
	load := func(_ context.Context, ids []int64) (map[int64]int64, error) {
		loads++
		if fail != nil {
			return nil, fail
		}
		out := map[int64]int64{}
		for _, id := range ids {
			if n, ok := store[id]; ok {
				out[id] = n
			}
		}
		return out, nil
	}
	ctx := context.Background()
	got, err := c.get(ctx, []int64{1, 2}, load)
	require.NoError(t, err)
	require.Equal(t, map[int64]int64{1: 5, 2: 0}, got)
	store[1] = 6
	got, _ = c.get(ctx, []int64{1, 2}, load)
	require.Equal(t, map[int64]int64{1: 5, 2: 0}, got, "within the window")
	require.Equal(t, 1, loads)

	c.put(map[int64]int64{2: 3}, now)
	got, _ = c.get(ctx, []int64{2}, load)
	require.Equal(t, int64(3), got[2])
	require.Equal(t, 1, loads)

	now = now.Add(time.Second)
	fail = errors.New("store down")
	_, err = c.get(ctx, []int64{1}, load)
	require.Error(t, err)
	fail = nil
	got, _ = c.get(ctx, []int64{1}, load)
	require.Equal(t, int64(6), got[1])
	require.Equal(t, 3, loads)
}
