package gift

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// A hot room's rank is served from memory; an aggregation flush of this process drops the
// copy of the rooms it changed; a cold room's rank always reads through.
func TestHotRankIsServedFromMemory(t *testing.T) {
	e := newEnv(t, sqltest.OpenSQLite(t), func(c *Config) {
		c.HotCacheTTL = time.Hour
		c.HotKeys.ReportInterval = 5 * time.Millisecond
		c.HotKeys.Deny = []string{"300"} // roomSecond never counts as hot
	})
	ctx := context.Background()
	require.Eventually(t, func() bool {
		_, err := e.svc.Rank(ctx, roomMain, 0)
		require.NoError(t, err)
		return e.svc.RankKeys().IsHot("100")
	}, 5*time.Second, time.Millisecond)
	before, err := e.svc.Rank(ctx, roomMain, 0)
	require.NoError(t, err)

	o := e.send(t, aliceUID, roomMain, 1, 3, "hot-rank-1")
	// The store has the new score once aggregated (read it around the cache) …
	require.Eventually(t, func() bool {
		r, err := e.svc.loadRank(ctx, roomMain)
		return err == nil && r.AnchorScore == before.AnchorScore+o.Total
	}, 10*time.Second, 10*time.Millisecond)
	// … and the flush that stored it dropped this process's cached copy: readers see the new
	// score long before the hour-long TTL.
	require.Eventually(t, func() bool {
		r, err := e.svc.Rank(ctx, roomMain, 0)
		return err == nil && r.AnchorScore == before.AnchorScore+o.Total
	}, 10*time.Second, 10*time.Millisecond)

	// A room that is not hot reads through: its new score shows as soon as it is stored.
	e.send(t, aliceUID, roomSecond, 1, 2, "cold-rank-1")
	require.Eventually(t, func() bool {
		r, err := e.svc.Rank(ctx, roomSecond, 0)
		return err == nil && len(r.Items) == 1
	}, 10*time.Second, 10*time.Millisecond)
}

// A room hot by its audience (gift.hot_threshold) or pinned has its rank kept in memory from
// its first read, before its reads alone would make it hot; a stale copy shows until its TTL.
func TestRankOfAHotRoomIsKeptWhateverItsReads(t *testing.T) {
	tr := hotroom.New(nil)
	e := &env{db: sqltest.OpenSQLite(t), rooms: newFakeRooms(), accounts: newAccounts(), pusher: &pushtest.Recorder{}}
	q, err := queue.Open(context.Background(), queue.Config{}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	e.q = q
	cfg := testConfig(t)
	cfg.HotCacheTTL, cfg.HotThreshold = time.Hour, 100
	cfg.HotKeys.MinCount = 1 << 30 // reads never make a key hot here
	e.svc = e.start(t, cfg, func(d *Deps) { d.Hot = tr })
	ctx := context.Background()

	_, err = e.svc.Rank(ctx, roomMain, 0)
	require.NoError(t, err)
	require.False(t, e.svc.RankKeys().IsHot("100"), "not hot: read through")
	tr.Update(map[int64]int64{roomMain: 100})
	_, err = e.svc.Rank(ctx, roomMain, 0)
	require.NoError(t, err)
	require.True(t, e.svc.RankKeys().IsHot("100"), "hot by its audience")
	tr.PinRoom(roomSecond, time.Now().Add(time.Hour), "event")
	_, err = e.svc.Rank(ctx, roomSecond, 0)
	require.NoError(t, err)
	require.True(t, e.svc.RankKeys().IsHot("300"), "pinned")
}
