package hotlist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/hotlist"
	"github.com/zhibo-live/zhibo/internal/platform/cache/cachetest"
)

// lists returns lists of cap items on the Redis of ZHIBO_TEST_REDIS_ADDR (a private
// redis-server without it), and a fresh key prefix.
func lists(t *testing.T, capacity int) (*hotlist.Lists, string) {
	r := cachetest.Open(t, "hl")
	return &hotlist.Lists{C: r.Client(), Cap: capacity, TTL: time.Hour}, r.Prefix()
}

type snapshot []hotlist.Item

func (s snapshot) newest(_ context.Context, limit int) ([]hotlist.Item, error) {
	return s[:min(limit, len(s))], nil
}

// A list not held is not written to; a build sets the floor (the newest item left out); a read
// reaching below it is not answered; trimming raises it; an item dropped, or below the floor,
// is not brought back by a late add.
func TestBuildFloorAndDrops(t *testing.T) {
	l, p := lists(t, 10)
	ctx := context.Background()
	base := p + "{7}:"
	const a, b = 8, 9
	require.NoError(t, l.Add(ctx, map[string][]hotlist.Item{base: {{ID: 1, Tag: a}}}, false))
	_, err := l.Since(ctx, base, 0, 10)
	require.ErrorIs(t, err, hotlist.ErrCold, "not held: the add was not kept")

	// 12 items in the store, newest first: ids 120, 110, … 10 (tag b on multiples of 20).
	var store snapshot
	for id := int64(120); id >= 10; id -= 10 {
		tag := int64(a)
		if id%20 == 0 {
			tag = b
		}
		store = append(store, hotlist.Item{ID: id, Tag: tag})
	}
	require.NoError(t, l.Build(ctx, base, store.newest))
	got, err := l.Since(ctx, base, 20, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{30, 40, 50, 60, 70, 80, 90, 100, 110, 120}, got, "every item after the floor (20, the newest left out)")
	_, err = l.Since(ctx, base, 19, 100)
	require.ErrorIs(t, err, hotlist.ErrDeep, "the item 20 is not held")
	got, err = l.Since(ctx, base, 100, 1)
	require.NoError(t, err)
	require.Equal(t, []int64{110}, got)

	got, err = l.Before(ctx, base, a, 0, 0, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{110, 90, 70}, got)
	got, err = l.Before(ctx, base, a, 0, 0, 5)
	require.NoError(t, err)
	require.Equal(t, []int64{110, 90, 70, 50, 30}, got, "every item tagged a above the floor")
	_, err = l.Before(ctx, base, a, 0, 0, 6)
	require.ErrorIs(t, err, hotlist.ErrDeep, "a page of 6 reaches below the floor")
	got, err = l.Before(ctx, base, 0, 60, 100, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{90, 80, 70}, got, "any tag, between 60 and 100: whole, as the floor is below 60")

	// A new item trims the oldest kept and raises the floor; a late one below it is not added.
	require.NoError(t, l.Add(ctx, map[string][]hotlist.Item{base: {{ID: 130, Tag: a}, {ID: 5, Tag: a}}}, false))
	_, err = l.Since(ctx, base, 29, 100)
	require.ErrorIs(t, err, hotlist.ErrDeep, "the floor rose to 30")
	got, err = l.Since(ctx, base, 30, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{40, 50, 60, 70, 80, 90, 100, 110, 120, 130}, got)

	// Dropped: gone at once, and an add delivered again does not bring it back.
	require.NoError(t, l.Drop(ctx, base, 110))
	require.NoError(t, l.Add(ctx, map[string][]hotlist.Item{base: {{ID: 110, Tag: a}}}, false))
	got, err = l.Before(ctx, base, a, 0, 0, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{130, 90, 70}, got)

	// A list with fewer items than the cap is held whole: any page is answered.
	small := p + "{70}:"
	require.NoError(t, l.Build(ctx, small, snapshot{{ID: 3, Tag: a}, {ID: 2, Tag: b}}.newest))
	got, err = l.Before(ctx, small, a, 0, 0, 50)
	require.NoError(t, err)
	require.Equal(t, []int64{3}, got)
	got, err = l.Since(ctx, small, 0, 50)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, got)
}

// Adds while a list is being built are kept, and a trim they cause meanwhile raises the floor
// the build ends with.
func TestBuiltUnderAdds(t *testing.T) {
	l, p := lists(t, 10)
	ctx := context.Background()
	base := p + "{11}:"
	var adds []hotlist.Item
	for id := int64(1); id <= 12; id++ { // 12 items added while building: 2 trimmed
		adds = append(adds, hotlist.Item{ID: id * 10, Tag: 5})
	}
	err := l.Build(ctx, base, func(ctx context.Context, limit int) ([]hotlist.Item, error) {
		_, err := l.Since(ctx, base, 0, 10)
		require.ErrorIs(t, err, hotlist.ErrCold, "not readable while being built")
		return nil, l.Add(ctx, map[string][]hotlist.Item{base: adds}, false) // the store has none yet
	})
	require.NoError(t, err)
	_, err = l.Since(ctx, base, 19, 10)
	require.ErrorIs(t, err, hotlist.ErrDeep, "the snapshot was empty (every item), but the trim meanwhile left 20 out")
	got, err := l.Since(ctx, base, 20, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{30, 40, 50}, got)

	// A failed snapshot leaves the list not held.
	failed := p + "{12}:"
	boom := errors.New("store down")
	require.ErrorIs(t, l.Build(ctx, failed, func(context.Context, int) ([]hotlist.Item, error) { return nil, boom }), boom)
	_, err = l.Since(ctx, failed, 0, 10)
	require.ErrorIs(t, err, hotlist.ErrCold)
}

// A list fed from the start (create) is held from just below its first item: what came before
// is the store's to answer.
func TestCreatedByItsFirstAdd(t *testing.T) {
	l, p := lists(t, 5)
	ctx := context.Background()
	base := p + "{g1}:"
	require.NoError(t, l.Add(ctx, map[string][]hotlist.Item{base: {{ID: 52, Tag: 1}, {ID: 50, Tag: 2}}}, true))
	got, err := l.Since(ctx, base, 49, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{50, 52}, got)
	_, err = l.Since(ctx, base, 48, 10)
	require.ErrorIs(t, err, hotlist.ErrDeep)
	got, err = l.Before(ctx, base, 0, 0, 0, 10)
	require.ErrorIs(t, err, hotlist.ErrDeep, "a page of 10 reaches below the first item")
	require.Nil(t, got)
	got, err = l.Before(ctx, base, 0, 49, 0, 10)
	require.NoError(t, err, "nothing asked below 49")
	require.Equal(t, []int64{52, 50}, got)

	// Later adds keep the floor; one arriving late below it is not added.
	require.NoError(t, l.Add(ctx, map[string][]hotlist.Item{base: {{ID: 51, Tag: 1}, {ID: 40, Tag: 1}, {ID: 60, Tag: 3}}}, true))
	got, err = l.Since(ctx, base, 49, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{50, 51, 52, 60}, got)
	got, err = l.Before(ctx, base, 1, 49, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{52, 51}, got, "tag 1 only")
}

// Values kept as JSON come back by index; a missing key and one the check refuses are left out;
// a value is put once unless overwritten.
func TestJSON(t *testing.T) {
	l, p := lists(t, 5)
	ctx := context.Background()
	type v struct{ ID int64 }
	keys := []string{p + "m:1", p + "m:2", p + "m:3"}
	require.NoError(t, hotlist.PutJSON(ctx, l.C, keys[:2], []v{{1}, {2}}, time.Minute, false))
	got, err := hotlist.GetJSON(ctx, l.C, keys, func(i int, x v) bool { return x.ID != 2 })
	require.NoError(t, err)
	require.Equal(t, map[int]v{0: {1}}, got)

	// A put again keeps the first value; an overwrite replaces it.
	require.NoError(t, hotlist.PutJSON(ctx, l.C, keys[:1], []v{{10}}, time.Minute, false))
	got, err = hotlist.GetJSON(ctx, l.C, keys[:1], func(int, v) bool { return true })
	require.NoError(t, err)
	require.Equal(t, map[int]v{0: {1}}, got)
	require.NoError(t, hotlist.PutJSON(ctx, l.C, keys[:1], []v{{11}}, time.Minute, true))
	got, err = hotlist.GetJSON(ctx, l.C, keys[:1], func(int, v) bool { return true })
	require.NoError(t, err)
	require.Equal(t, map[int]v{0: {11}}, got)
}
