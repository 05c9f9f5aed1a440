package room

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
)

// roomPushes are the messages pushed to room id, in order.
func roomPushes(p *pushtest.Recorder, id int64) []string {
	var out []string
	for _, ps := range p.All() {
		if ps.RoomID == id {
			for _, m := range ps.Msgs {
				out = append(out, string(m))
			}
		}
	}
	return out
}

// Live by video is a lease: a room media set live and never confirmed goes preparing with
// one PREPARING once room.live_timeout has passed on room's clock; a confirmed room stays
// live until its confirmations stop too; a room switched live by hand is never expired, and
// a confirmation neither renews it nor makes a preparing room live.
func TestUnconfirmedStreamExpires(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		var clock atomic.Int64 // ms since the start: the sweep runs on its ticker, the time is ours
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := func() time.Time { return start.Add(time.Duration(clock.Load()) * time.Millisecond) }
		s, p := newServiceWith(t, db, func(c *Config, d *Deps) {
			c.LiveTimeout = time.Second // swept every 200 ms of real time
			d.Now = now
		})
		mk := func(owner int64, title string) Room {
			r, err := s.Create(ctx, owner, Fields{Title: str(title)})
			require.NoError(t, err)
			return r
		}
		video, confirmed, manual, idle := mk(1, "video"), mk(2, "confirmed"), mk(3, "manual"), mk(4, "idle")
		require.NoError(t, s.SetStreamLive(ctx, video.ID, true))
		require.NoError(t, s.SetStreamLive(ctx, confirmed.ID, true))
		_, err := s.SetLive(ctx, 3, manual.ID, true)
		require.NoError(t, err)
		live := func(id int64) bool {
			r, err := s.store.Get(ctx, id) // the store: no cache in the way
			require.NoError(t, err)
			return r.Live
		}

		clock.Store(600)
		require.NoError(t, s.ConfirmStreams(ctx, "media-a", []int64{confirmed.ID, manual.ID, idle.ID}))
		clock.Store(1200) // video: 1.2 s unconfirmed; confirmed: 0.6 s
		// The room is marked not live first, then counted and told: wait for all three.
		require.Eventually(t, func() bool {
			return !live(video.ID) && testutil.ToFloat64(s.m.liveExpired) == 1 && len(roomPushes(p, video.ID)) == 2
		}, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, []string{string(protocol.LiveMsg(video.ID)), string(protocol.PreparingMsg(video.ID))}, roomPushes(p, video.ID))
		require.True(t, live(confirmed.ID), "confirmed 0.6 s ago")
		got, err := s.Get(ctx, video.ID)
		require.NoError(t, err)
		require.False(t, got.Live, "the cached room was invalidated")
		require.Zero(t, got.LiveStartedAt)

		// The confirmations of the other room stop too: it goes, the manual one stays.
		clock.Store(5000)
		require.Eventually(t, func() bool {
			return !live(confirmed.ID) && testutil.ToFloat64(s.m.liveExpired) == 2 && len(roomPushes(p, confirmed.ID)) == 2
		}, 10*time.Second, 20*time.Millisecond, "LIVE, then one PREPARING")
		require.True(t, live(manual.ID), "switched live by hand: never expired")
		require.False(t, live(idle.ID), "a confirmation does not make a room live")
		require.Equal(t, []string{string(protocol.LiveMsg(manual.ID))}, roomPushes(p, manual.ID))
		require.Empty(t, roomPushes(p, idle.ID))
		require.Equal(t, 2.0, testutil.ToFloat64(s.m.liveExpired), "each expired once")

		// A publish start in the room live by hand makes it live by video (latest change wins):
		// no second LIVE, and unconfirmed it expires like any other.
		require.NoError(t, s.SetStreamLive(ctx, manual.ID, true))
		require.Len(t, roomPushes(p, manual.ID), 1)
		clock.Store(7000)
		require.Eventually(t, func() bool { return !live(manual.ID) && len(roomPushes(p, manual.ID)) == 2 }, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, []string{string(protocol.LiveMsg(manual.ID)), string(protocol.PreparingMsg(manual.ID))}, roomPushes(p, manual.ID))

		require.ErrorIs(t, s.ConfirmStreams(ctx, "media-a", make([]int64, maxConfirmRooms+1)), ErrBadRoom)
		require.ErrorIs(t, s.ConfirmStreams(ctx, string(make([]byte, maxNodeName+1)), []int64{1}), ErrBadRoom)
	})
}

// A confirmation renews every room named, in batches: many rooms confirmed in one call all stay
// live while an unnamed one expires, and the node that confirmed a room is recorded.
func TestConfirmStreamsRenewsEveryRoomNamed(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		st, err := NewSQLStore(ctx, db)
		require.NoError(t, err)
		var ids []int64
		for i := range confirmBatch + 3 {
			r, err := st.Create(ctx, Room{OwnerUID: int64(i + 1), Title: "r", StreamKey: newStreamKey(), CreatedAt: 1, UpdatedAt: 1}, 1)
			require.NoError(t, err)
			_, err = st.SetLive(ctx, r.ID, true, true, 1000)
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		require.NoError(t, st.ConfirmStreams(ctx, "media-b", ids[:len(ids)-1], 5000))
		stale, err := st.StaleStreams(ctx, 4000)
		require.NoError(t, err)
		require.Equal(t, []StaleStream{{ID: ids[len(ids)-1], SeenAt: 1000}}, stale)
		stale, err = st.StaleStreams(ctx, 6000)
		require.NoError(t, err)
		require.Len(t, stale, len(ids))
		require.Equal(t, StaleStream{ID: ids[0], Node: "media-b", SeenAt: 5000}, stale[0])
		ok, err := st.ExpireStream(ctx, ids[0], 4000, 7000)
		require.NoError(t, err)
		require.False(t, ok, "confirmed after the cut-off: kept")
		ok, err = st.ExpireStream(ctx, ids[0], 6000, 7000)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = st.ExpireStream(ctx, ids[0], 6000, 7000)
		require.NoError(t, err)
		require.False(t, ok, "expired once")
	})
}
