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

// heldSwitches is a store whose GlobalSwitches, once read, waits until released.
type heldSwitches struct {
	Store
	read, release chan struct{}
}

func (h *heldSwitches) GlobalSwitches(ctx context.Context) ([]string, error) {
	off, err := h.Store.GlobalSwitches(ctx)
	close(h.read)
	<-h.release
	return off, err
}

// A reload that read the global switches before a change made through this process does not
// put the old ones back after it: the change holds until the reload is done, then applies.
func TestGlobalSwitchesChangeIsNotUndoneByAReload(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	s, _ := newServiceWith(t, db, func(c *Config, _ *Deps) { c.SwitchesRefresh = time.Hour })
	ctx := context.Background()
	_, err := s.SetGlobalSwitches(ctx, []string{"comments", "gifts"})
	require.NoError(t, err)
	h := &heldSwitches{Store: s.store, read: make(chan struct{}), release: make(chan struct{})}
	s.store = h
	reloaded := make(chan struct{})
	go func() { s.reloadSwitches(); close(reloaded) }()
	<-h.read // the reload has the old switches in hand
	changed := make(chan error, 1)
	go func() { _, err := s.SetGlobalSwitches(ctx, nil); changed <- err }()
	time.Sleep(50 * time.Millisecond) // the change reaches the lock (or, unordered, is done)
	close(h.release)
	<-reloaded
	require.NoError(t, <-changed)
	require.Empty(t, *s.globalOff.Load(), "the change made here, not the reload's old read")
}
