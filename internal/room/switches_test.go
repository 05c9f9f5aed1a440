package room

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// A room's own switches live in its row and come with every read; the global ones are added
// to every room's, and reach another room process on the same store within SwitchesRefresh.
func TestSwitches(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		fast := func(c *Config, _ *Deps) { c.SwitchesRefresh = 20 * time.Millisecond }
		a, _ := newServiceWith(t, db, fast)
		b, _ := newServiceWith(t, db, fast) // a second room process
		ctx := context.Background()
		r1, err := a.Create(ctx, 1, Fields{Title: str("one")})
		require.NoError(t, err)
		r2, err := a.Create(ctx, 2, Fields{Title: str("two")})
		require.NoError(t, err)
		require.Equal(t, []string{}, r1.Off)

		_, err = a.SetRoomSwitches(ctx, r1.ID, []string{"gifts", "bogus"})
		require.ErrorIs(t, err, ErrBadRoom)
		_, err = a.SetRoomSwitches(ctx, 424242, []string{"gifts"})
		require.ErrorIs(t, err, ErrRoomNotFound)
		got, err := a.SetRoomSwitches(ctx, r1.ID, []string{"rank", "gifts", "rank"})
		require.NoError(t, err)
		require.Equal(t, []string{"gifts", "rank"}, got.Off, "sorted, without repeats")
		read, err := a.Get(ctx, r1.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"gifts", "rank"}, read.Off)
		require.True(t, read.IsOff(SwitchGifts) && !read.IsOff(SwitchComments))
		read, err = b.Get(ctx, r1.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"gifts", "rank"}, read.Off, "stored in the room's row")

		off, err := a.SetGlobalSwitches(ctx, []string{"comments", "gifts"})
		require.NoError(t, err)
		require.Equal(t, []string{"comments", "gifts"}, off)
		read, err = a.Get(ctx, r1.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"comments", "gifts", "rank"}, read.Off, "own and global together")
		read, err = a.Get(ctx, r2.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"comments", "gifts"}, read.Off)
		require.Eventually(t, func() bool {
			read, err := b.Get(ctx, r2.ID)
			return err == nil && len(read.Off) == 2
		}, 5*time.Second, 10*time.Millisecond, "the other process loads the global switches")
		_, view, err := b.View(ctx, r2.ID, 0)
		require.NoError(t, err)
		require.Equal(t, "two", view.Base.Title)

		_, err = a.SetGlobalSwitches(ctx, nil)
		require.NoError(t, err)
		_, err = a.SetRoomSwitches(ctx, r1.ID, []string{})
		require.NoError(t, err)
		read, err = a.Get(ctx, r1.ID)
		require.NoError(t, err)
		require.Empty(t, read.Off)
	})
}
