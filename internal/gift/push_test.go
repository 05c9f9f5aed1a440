package gift

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func TestSendPushesPublishesAndTags(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		ctx := context.Background()
		o := e.send(t, aliceUID, roomMain, 4, 2, "p1")

		pushes := e.pusher.All()
		require.Len(t, pushes, 1)
		require.Equal(t, roomMain, pushes[0].RoomID)
		require.Len(t, pushes[0].Msgs, 1)
		var msg struct {
			Cmd  string `json:"cmd"`
			Data struct {
				GiftID    int64  `json:"giftId"`
				GiftName  string `json:"giftName"`
				Num       int64  `json:"num"`
				UID       int64  `json:"uid"`
				Uname     string `json:"uname"`
				Price     int64  `json:"price"`
				CoinType  string `json:"coin_type"`
				TotalCoin int64  `json:"total_coin"`
				Action    string `json:"action"`
				Timestamp int64  `json:"timestamp"`
				Rnd       string `json:"rnd"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(pushes[0].Msgs[0], &msg))
		require.Equal(t, "SEND_GIFT", msg.Cmd)
		d := msg.Data
		require.Equal(t, int64(4), d.GiftID)
		require.Equal(t, "Bouquet", d.GiftName)
		require.Equal(t, int64(2), d.Num)
		require.Equal(t, aliceUID, d.UID)
		require.Equal(t, "alice", d.Uname)
		require.Equal(t, int64(52), d.Price)
		require.Equal(t, "gold", d.CoinType)
		require.Equal(t, int64(104), d.TotalCoin)
		require.NotEmpty(t, d.Action)
		require.Equal(t, o.CreatedAt/1000, d.Timestamp)
		require.Equal(t, strconv.FormatInt(o.ID, 10), d.Rnd)

		// The order event is on the stream, keyed by the order id, and marked published.
		stream, err := e.q.JS.Stream(ctx, e.q.Stream(StreamName))
		require.NoError(t, err)
		raw, err := stream.GetLastMsgForSubject(ctx, e.q.Subject("gift.order.100"))
		require.NoError(t, err)
		require.Equal(t, strconv.FormatInt(o.ID, 10), raw.Header.Get("Nats-Msg-Id"))
		var ev Order
		require.NoError(t, json.Unmarshal(raw.Data, &ev))
		ev.Key = o.Key
		require.Equal(t, o, ev)
		require.NotContains(t, string(raw.Data), "p1", "the idempotency key stays private")
		require.Equal(t, int64(1), e.count(t, "SELECT COUNT(*) FROM gift_orders WHERE published = 1"))

		// The room is tagged once; a room that already has the tag is left alone.
		e.send(t, bobUID, roomMain, 1, 1, "p2")
		e.send(t, bobUID, roomTagged, 1, 1, "p3")
		require.Equal(t, []tagCall{{roomMain, RankTag, true}}, e.rooms.tagCalls())
		require.Len(t, e.pusher.All(), 3)
		require.Equal(t, float64(104), testutil.ToFloat64(e.svc.m.goldSpent), "silver gifts are not gold")
	})
}

func TestOutboxRelayPublishesUnpublished(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		ctx := context.Background()
		insertUnpublished(t, e, 777)

		eventually(t, func() bool {
			return e.count(t, "SELECT COUNT(*) FROM gift_orders WHERE id = 777 AND published = 1") == 1
		}, "relay did not publish")
		stream, err := e.q.JS.Stream(ctx, e.q.Stream(StreamName))
		require.NoError(t, err)
		raw, err := stream.GetLastMsgForSubject(ctx, e.q.Subject("gift.order.300"))
		require.NoError(t, err)
		require.Equal(t, "777", raw.Header.Get("Nats-Msg-Id"))
		waitScored(t, e, 1)
		want := Rank{Items: []RankEntry{{UID: carolUID, Uname: "carol", Score: 520}}, AnchorScore: 520}
		require.Equal(t, want, e.rank(t, roomSecond, ""))
		require.Equal(t, float64(1), testutil.ToFloat64(e.svc.m.relayed))

		// Published but not marked (the mark was lost): the relay publishes again, the stream
		// de-duplicates it and the score stays.
		info, err := stream.Info(ctx)
		require.NoError(t, err)
		msgs := info.State.Msgs
		_, err = db.ExecContext(ctx, "UPDATE gift_orders SET published = 0 WHERE id = 777")
		require.NoError(t, err)
		eventually(t, func() bool { return testutil.ToFloat64(e.svc.m.relayed) == 2 }, "relay did not re-publish")
		info, err = stream.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, msgs, info.State.Msgs)
		require.Equal(t, want, e.rank(t, roomSecond, ""))
		// Fresh orders are published by their request, not by the relay.
		e.send(t, aliceUID, roomSecond, 1, 1, "fresh")
		require.Equal(t, int64(2), e.count(t, "SELECT COUNT(*) FROM gift_orders WHERE published = 1"))
	})
}
