package gift

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func TestRankAndAnchorScore(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		r := e.rank(t, roomMain, "")
		require.Empty(t, r.Items)
		require.Zero(t, r.AnchorScore)

		e.send(t, aliceUID, roomMain, 3, 3, "a1") // 30
		e.send(t, aliceUID, roomMain, 4, 1, "a2") // 52
		e.send(t, bobUID, roomMain, 5, 1, "b1")   // 520
		e.send(t, carolUID, roomSecond, 3, 1, "c1")
		want := Rank{Items: []RankEntry{{UID: bobUID, Uname: "bob", Score: 520}, {UID: aliceUID, Uname: "alice", Score: 82}}, AnchorScore: 612}
		eventually(t, func() bool {
			got := e.rank(t, roomMain, "")
			return got.AnchorScore == want.AnchorScore && len(got.Items) == 2 && got.Items[1].Score == 82
		}, "scores not aggregated")
		require.Equal(t, want, e.rank(t, roomMain, ""))
		require.Equal(t, Rank{Items: want.Items[:1], AnchorScore: 612}, e.rank(t, roomMain, "?limit=1"))
		require.Equal(t, Rank{Items: []RankEntry{{UID: carolUID, Uname: "carol", Score: 10}}, AnchorScore: 612}, e.rank(t, roomSecond, ""))

		// A room without an anchor has a rank but no anchor score.
		r = e.rank(t, roomNoAnchor, "")
		require.Empty(t, r.Items)
		require.Zero(t, r.AnchorScore)

		for _, c := range []struct {
			path   string
			status int
		}{
			{"/api/rooms/100/rank?limit=0", 400},
			{"/api/rooms/100/rank?limit=21", 400},
			{"/api/rooms/100/rank?limit=x", 400},
			{"/api/rooms/x/rank", 400},
			{"/api/rooms/999/rank", 404},
		} {
			status, env := e.call(t, "GET", c.path, 0, nil)
			require.Equal(t, c.status, status, "%s: %+v", c.path, env)
		}
		require.Equal(t, float64(4), testutil.ToFloat64(e.svc.m.folded))
	})
}

// waitScored waits until every order is counted and the consumer holds nothing unacknowledged.
func waitScored(t testing.TB, e *env, orders int64) {
	t.Helper()
	eventually(t, func() bool {
		if e.count(t, "SELECT COUNT(*) FROM gift_orders WHERE scored = 1") != orders {
			return false
		}
		info, err := e.q.JS.Consumer(context.Background(), e.q.Stream(StreamName), ScoreConsumer)
		if err != nil {
			return false
		}
		ci, err := info.Info(context.Background())
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0 && ci.Delivered.Stream >= uint64(orders)
	}, "orders not scored and acknowledged")
}

func TestAggregationCountsEachOrderOnce(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		ctx := context.Background()
		o1 := e.send(t, aliceUID, roomMain, 3, 1, "x1")
		o2 := e.send(t, aliceUID, roomMain, 3, 2, "x2")
		o3 := e.send(t, bobUID, roomMain, 4, 1, "x3")
		waitScored(t, e, 3)
		want := Rank{Items: []RankEntry{{UID: bobUID, Uname: "bob", Score: 52}, {UID: aliceUID, Uname: "alice", Score: 30}}, AnchorScore: 82}
		require.Equal(t, want, e.rank(t, roomMain, ""))
		seq, err := e.svc.store.AppliedSeq(ctx, ScoreConsumer)
		require.NoError(t, err)
		require.Equal(t, uint64(3), seq)

		// The same messages fed again, as a redelivery after a lost ack would: skipped.
		skipped := testutil.ToFloat64(e.svc.m.skipped)
		for i, o := range []Order{o1, o2, o3} {
			e.svc.agg.add(uint64(i+1), o.ID, nil)
		}
		require.NoError(t, e.svc.agg.flush(ctx))
		require.Equal(t, skipped+3, testutil.ToFloat64(e.svc.m.skipped))
		require.Equal(t, want, e.rank(t, roomMain, ""))

		// The consumer restarted from scratch sees every message again and counts none.
		require.NoError(t, e.svc.Stop(ctx))
		require.NoError(t, e.q.JS.DeleteConsumer(ctx, e.q.Stream(StreamName), ScoreConsumer))
		e.svc = e.start(t, testConfig(t))
		waitScored(t, e, 3)
		eventually(t, func() bool { return testutil.ToFloat64(e.svc.m.skipped) == 3 }, "replayed messages not skipped")
		require.Zero(t, testutil.ToFloat64(e.svc.m.folded))
		require.Equal(t, want, e.rank(t, roomMain, ""))

		// New orders after the restart still count.
		e.send(t, aliceUID, roomMain, 3, 1, "x4")
		waitScored(t, e, 4)
		// The rank read above may be served from memory for up to hot_cache_ttl.
		eventually(t, func() bool { return e.rank(t, roomMain, "").Items[1].Score == 40 }, "new order not counted")
	})
}

// TestLateRedeliveryStillCounts covers the case a stored sequence alone would get wrong: an
// event delivered before a crash is redelivered after later events were applied.
func TestLateRedeliveryStillCounts(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		ctx := context.Background()
		// Orders recorded without going through the queue, fed to the aggregator by hand.
		st := e.svc.store
		place := func(id int64, key string) Order {
			o, _, err := st.PlaceOrder(ctx, Order{ID: id, RoomID: roomMain, UID: aliceUID, AnchorUID: anchorUID,
				GiftID: 3, GiftName: "Applause", CoinType: CoinGold, Num: 1, Price: 10, Total: 10,
				CreatedAt: time.Now().UnixMilli(), Key: key})
			require.NoError(t, err)
			return o
		}
		late, early := place(1001, "late"), place(1002, "early")
		e.svc.agg.add(1_000_001, early.ID, nil)
		require.NoError(t, e.svc.agg.flush(ctx))
		e.svc.agg.add(1_000_000, late.ID, nil)
		require.NoError(t, e.svc.agg.flush(ctx))
		score, err := st.AnchorScore(ctx, anchorUID)
		require.NoError(t, err)
		require.Equal(t, int64(20), score)
		seq, err := st.AppliedSeq(ctx, ScoreConsumer)
		require.NoError(t, err)
		require.Equal(t, uint64(1_000_001), seq, "the stored sequence never goes back")
	})
}

func TestFlushFailureKeepsEvents(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	e := newEnv(t, db, nil)
	ctx := context.Background()
	o := e.send(t, aliceUID, roomMain, 3, 1, "f1")
	waitScored(t, e, 1)
	// A cancelled flush fails; the event stays pending and the next flush applies it once.
	require.NoError(t, e.svc.Stop(ctx))
	_, err := db.ExecContext(ctx, "UPDATE gift_orders SET scored = 0")
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	e.svc.agg.add(99, o.ID, nil)
	require.Error(t, e.svc.agg.flush(cancelled))
	require.Equal(t, float64(1), testutil.ToFloat64(e.svc.m.flushes.WithLabelValues("error")))
	require.NoError(t, e.svc.agg.flush(ctx))
	score, err := e.svc.store.AnchorScore(ctx, anchorUID)
	require.NoError(t, err)
	require.Equal(t, int64(20), score, "counted again only because the mark was reset by hand")
	status, _ := e.call(t, "GET", "/api/rooms/100/rank", 0, nil)
	require.Equal(t, http.StatusOK, status)
}
