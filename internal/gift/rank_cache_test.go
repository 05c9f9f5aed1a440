package gift

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// A hot room's rank is served from memory: while the cached copy is fresh, a new score is not
// read from the store; a cold room's rank always reads through.
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
	// … but the hot room's cached rank is what readers get until its TTL.
	cached, err := e.svc.Rank(ctx, roomMain, 0)
	require.NoError(t, err)
	require.Equal(t, before.AnchorScore, cached.AnchorScore)

	// A room that is not hot reads through: its new score shows as soon as it is stored.
	e.send(t, aliceUID, roomSecond, 1, 2, "cold-rank-1")
	require.Eventually(t, func() bool {
		r, err := e.svc.Rank(ctx, roomSecond, 0)
		return err == nil && len(r.Items) == 1
	}, 10*time.Second, 10*time.Millisecond)
}
