package gift

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func TestSendDebitsAndReplays(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		require.Equal(t, int64(1000), e.balance(t, aliceUID))

		o := e.send(t, aliceUID, roomMain, 3, 2, "k-1")
		require.NotZero(t, o.ID)
		require.Equal(t, Order{
			ID: o.ID, RoomID: roomMain, UID: aliceUID, AnchorUID: anchorUID, GiftID: 3, GiftName: "Applause",
			CoinType: CoinGold, Num: 2, Price: 10, Total: 20, Balance: 980, CreatedAt: o.CreatedAt,
		}, o)
		require.Equal(t, int64(980), e.balance(t, aliceUID))

		// A retry returns the same order and charges nothing.
		again := e.send(t, aliceUID, roomMain, 3, 2, "k-1")
		require.Equal(t, o, again)
		require.Equal(t, int64(980), e.balance(t, aliceUID))

		// The same key for another request is refused, whichever field differs.
		for _, body := range []map[string]any{
			{"gift_id": 3, "num": 3, "idempotency_key": "k-1"},
			{"gift_id": 4, "num": 2, "idempotency_key": "k-1"},
		} {
			status, env := e.call(t, "POST", "/api/rooms/100/gifts", aliceUID, body)
			require.Equal(t, http.StatusConflict, status)
			require.Equal(t, ErrKeyReused.Code, env.Code)
			require.Equal(t, "idempotency key reused with a different request", env.Message)
		}
		status, env := e.call(t, "POST", "/api/rooms/300/gifts", aliceUID,
			map[string]any{"gift_id": 3, "num": 2, "idempotency_key": "k-1"})
		require.Equal(t, http.StatusConflict, status)
		require.Equal(t, ErrKeyReused.Code, env.Code)
		require.Equal(t, int64(980), e.balance(t, aliceUID))
		require.Equal(t, int64(1), e.count(t, "SELECT COUNT(*) FROM gift_orders"))

		// Keys are per user and case-sensitive.
		bob := e.send(t, bobUID, roomMain, 3, 2, "k-1")
		require.NotEqual(t, o.ID, bob.ID)
		upper := e.send(t, aliceUID, roomMain, 3, 1, "K-1")
		require.NotEqual(t, o.ID, upper.ID)
		require.Equal(t, int64(970), e.balance(t, aliceUID))
	})
}

func TestSendRejectionsChangeNothing(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		ok := `{"gift_id":3,"num":1,"idempotency_key":"k"}`
		cases := []struct {
			name   string
			uid    int64
			path   string
			body   string
			status int
			code   int
		}{
			{"anonymous", 0, "/api/rooms/100/gifts", ok, 401, -401},
			{"room id not a number", aliceUID, "/api/rooms/abc/gifts", ok, 400, -400},
			{"room id negative", aliceUID, "/api/rooms/-1/gifts", ok, 400, -400},
			{"unknown room", aliceUID, "/api/rooms/999/gifts", ok, 404, -404},
			{"room without anchor", aliceUID, "/api/rooms/200/gifts", ok, 409, ErrNoAnchor.Code},
			{"own room", anchorUID, "/api/rooms/100/gifts", ok, 403, ErrSelfGift.Code},
			{"unknown gift", aliceUID, "/api/rooms/100/gifts", `{"gift_id":99,"num":1,"idempotency_key":"k"}`, 400, ErrUnknownGift.Code},
			{"gift missing", aliceUID, "/api/rooms/100/gifts", `{"num":1,"idempotency_key":"k"}`, 400, ErrUnknownGift.Code},
			{"gift not a number", aliceUID, "/api/rooms/100/gifts", `{"gift_id":"3","num":1,"idempotency_key":"k"}`, 400, -400},
			{"num zero", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":0,"idempotency_key":"k"}`, 400, ErrBadNum.Code},
			{"num missing", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"idempotency_key":"k"}`, 400, ErrBadNum.Code},
			{"num negative", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":-1,"idempotency_key":"k"}`, 400, ErrBadNum.Code},
			{"num above max", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":10000,"idempotency_key":"k"}`, 400, ErrBadNum.Code},
			{"num huge", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1e30,"idempotency_key":"k"}`, 400, -400},
			{"num overflow", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":92233720368547758070,"idempotency_key":"k"}`, 400, -400},
			{"num fraction", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1.5,"idempotency_key":"k"}`, 400, -400},
			{"num string", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":"2","idempotency_key":"k"}`, 400, -400},
			{"key missing", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1}`, 400, ErrBadKey.Code},
			{"key too long", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1,"idempotency_key":"` + strings.Repeat("k", 65) + `"}`, 400, ErrBadKey.Code},
			{"key with space", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1,"idempotency_key":"a b"}`, 400, ErrBadKey.Code},
			{"key with slash", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1,"idempotency_key":"a/b"}`, 400, ErrBadKey.Code},
			{"key not ascii", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1,"idempotency_key":"ключ"}`, 400, ErrBadKey.Code},
			{"key not a string", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1,"idempotency_key":7}`, 400, -400},
			{"unknown field", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,"num":1,"idempotency_key":"k","to":1}`, 400, -400},
			{"malformed JSON", aliceUID, "/api/rooms/100/gifts", `{"gift_id":3,`, 400, -400},
			{"empty body", aliceUID, "/api/rooms/100/gifts", ``, 400, -400},
			{"two objects", aliceUID, "/api/rooms/100/gifts", ok + ok, 400, -400},
			{"too large", aliceUID, "/api/rooms/100/gifts", `{"idempotency_key":"` + strings.Repeat("k", 70<<10) + `"}`, 413, -413},
			{"insufficient balance", aliceUID, "/api/rooms/100/gifts", `{"gift_id":6,"num":2,"idempotency_key":"k"}`, 409, ErrInsufficient.Code},
		}
		for _, c := range cases {
			status, env := e.call(t, "POST", c.path, c.uid, c.body)
			require.Equal(t, c.status, status, "%s: %+v", c.name, env)
			require.Equal(t, c.code, env.Code, "%s: %+v", c.name, env)
			require.NotEmpty(t, env.Message, c.name)
		}
		require.Equal(t, int64(1000), e.balance(t, aliceUID))
		require.Equal(t, int64(1000), e.balance(t, anchorUID))
		require.Zero(t, e.count(t, "SELECT COUNT(*) FROM gift_orders"))
		require.Empty(t, e.pusher.All())
		require.Empty(t, e.rooms.tagCalls())
		// A key refused for lack of money is still free for a request that fits.
		e.send(t, aliceUID, roomMain, 6, 1, "k")
		require.Zero(t, e.balance(t, aliceUID))
	})
}

func TestInsufficientBalanceLeavesWallet(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		e.send(t, aliceUID, roomMain, 4, 19, "spend") // 988
		require.Equal(t, int64(12), e.balance(t, aliceUID))
		status, env := e.call(t, "POST", "/api/rooms/100/gifts", aliceUID,
			map[string]any{"gift_id": 3, "num": 2, "idempotency_key": "more"})
		require.Equal(t, http.StatusConflict, status)
		require.Equal(t, ErrInsufficient.Code, env.Code)
		require.Equal(t, "insufficient balance: have 12, need 20", env.Message)
		require.Equal(t, int64(12), e.balance(t, aliceUID))
		require.Equal(t, int64(1), e.count(t, "SELECT COUNT(*) FROM gift_orders"))

		// A wallet that starts empty refuses every gift.
		e2 := newEnv(t, db, func(c *Config) { c.InitialBalance = 0 })
		require.Zero(t, e2.balance(t, carolUID))
		status, env = e2.call(t, "POST", "/api/rooms/100/gifts", carolUID,
			map[string]any{"gift_id": 1, "num": 1, "idempotency_key": "x"})
		require.Equal(t, http.StatusConflict, status)
		require.Equal(t, ErrInsufficient.Code, env.Code)
	})
}

func TestConcurrentRetriesChargeOnce(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		const n = 20
		orders := make([]Order, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				orders[i], errs[i] = e.svc.Send(context.Background(), SendRequest{
					RoomID: roomMain, UID: aliceUID, GiftID: 4, Num: 3, Key: "same-key"})
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, orders[0], orders[i])
		}
		require.Equal(t, int64(1000-156), orders[0].Balance)
		require.Equal(t, int64(1000-156), e.balance(t, aliceUID))
		require.Equal(t, int64(1), e.count(t, "SELECT COUNT(*) FROM gift_orders"))
		require.Len(t, e.pusher.All(), 1, "a replay pushes nothing")
	})
}

func TestConcurrentSendsNeverOverdraw(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil)
		const n = 15 // 15 × 100 coins against 1000
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = e.svc.Send(context.Background(), SendRequest{
					RoomID: roomMain, UID: aliceUID, GiftID: 3, Num: 10, Key: "k" + string(rune('a'+i))})
			})
		}
		wg.Wait()
		okCount := 0
		for _, err := range errs {
			if err == nil {
				okCount++
				continue
			}
			require.ErrorIs(t, err, ErrInsufficient)
		}
		require.Equal(t, 10, okCount)
		require.Zero(t, e.balance(t, aliceUID))
		require.Equal(t, int64(10), e.count(t, "SELECT COUNT(*) FROM gift_orders"))
	})
}
