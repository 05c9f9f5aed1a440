package gift

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/lease/leasetest"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
)

// Two gift processes on one queue and one database: the outbox relay runs on one of them,
// once per interval, and moves to the other when that one stops.
func TestOutboxRelayRunsOnOneNode(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		q, err := queue.Open(context.Background(), queue.Config{}, t.TempDir(), obs.Discard())
		require.NoError(t, err)
		t.Cleanup(q.Close)
		e := &env{db: db, q: q, rooms: newFakeRooms(), accounts: newAccounts(), pusher: &pushtest.Recorder{}}
		cfg := testConfig(t)
		var (
			svcs [2]*Service
			regs [2]*prometheus.Registry
		)
		for i := range svcs {
			var node *lease.Node
			node, regs[i] = leasetest.Node(t, q)
			svcs[i] = e.start(t, cfg, func(d *Deps) { d.Leases = node })
		}
		runs := func(i int) float64 { return leasetest.Runs(t, regs[i], relayLease) }
		acquired := func(i int) float64 { return leasetest.Acquired(t, regs[i], relayLease) }
		// Twenty relay passes, all on one node: without the lease each
		// node would run its own.
		eventually(t, func() bool { return runs(0)+runs(1) >= 20 }, "the relay did not run")
		holder, other := 0, 1
		if runs(1) > 0 {
			holder, other = 1, 0
		}
		require.Equal(t, float64(1), acquired(0)+acquired(1), "the lease changed hands while both nodes ran")
		require.Zero(t, runs(other), "both nodes ran the relay")

		// The holder stops (releasing the lease): the other node relays a lost order.
		require.NoError(t, svcs[holder].Stop(context.Background()))
		insertUnpublished(t, e, 888)
		eventually(t, func() bool {
			return e.count(t, "SELECT COUNT(*) FROM gift_orders WHERE id = 888 AND published = 1") == 1
		}, "the relay did not move to the other node")
		require.Positive(t, runs(other))
	})
}

// insertUnpublished stores order id as committed by a process that died before publishing its
// event: old enough for the relay.
func insertUnpublished(t *testing.T, e *env, id int64) {
	t.Helper()
	_, err := e.db.ExecContext(context.Background(), "INSERT INTO gift_orders ("+orderCols+", published) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
		id, carolUID, fmt.Sprintf("lost%d", id), roomSecond, anchorUID, int64(5), "Rocket", CoinGold,
		int64(1), int64(520), int64(520), int64(480), time.Now().Add(-5*time.Second).UnixMilli())
	require.NoError(t, err)
}
