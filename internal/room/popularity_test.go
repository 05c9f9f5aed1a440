package room

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/lease/leasetest"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// Two room processes on one queue and one database: both feed their own hot-room tracker,
// one of them writes the list order.
func TestPopularityWrittenByOneNode(t *testing.T) {
	ctx := context.Background()
	db := sqltest.OpenSQLite(t)
	q, err := queue.Open(ctx, queue.Config{}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	var (
		svcs [2]*Service
		regs [2]*prometheus.Registry
	)
	for i := range svcs {
		node, reg := leasetest.Node(t, q)
		regs[i] = reg
		svcs[i], _ = newServiceWith(t, db, func(c *Config, d *Deps) {
			c.PopularityInterval = 20 * time.Millisecond
			d.Leases = node
			d.Counter = fakeCounter{1: logic.Count{Online: 5000}}
		})
	}
	r, err := svcs[0].Create(ctx, 1, Fields{Title: str("big")})
	require.NoError(t, err)
	require.Equal(t, int64(1), r.ID)
	_, err = svcs[0].SetLive(ctx, 1, r.ID, true)
	require.NoError(t, err)

	runs := func(i int) float64 { return leasetest.Runs(t, regs[i], popularityLease) }
	require.Eventually(t, func() bool { return runs(0)+runs(1) >= 20 }, 10*time.Second, 10*time.Millisecond,
		"the list order was not written")
	holder, other := 0, 1
	if runs(1) > 0 {
		holder, other = 1, 0
	}
	require.Equal(t, float64(1), leasetest.Acquired(t, regs[0], popularityLease)+leasetest.Acquired(t, regs[1], popularityLease),
		"the lease changed hands while both nodes ran")
	require.Zero(t, runs(other), "both nodes wrote the list order")
	var pop int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT popularity FROM rooms WHERE id = ?", r.ID).Scan(&pop))
	require.Equal(t, int64(5000), pop)
	for i, s := range svcs {
		require.Eventually(t, func() bool { return s.Hot().IsHot(r.ID, 1000) }, 10*time.Second, 10*time.Millisecond,
			"node %d's hot-room tracker was not fed (holder %d)", i, holder)
	}
}
