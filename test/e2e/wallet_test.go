package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/app"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// A deployment's whole wallet story: accounts start with no coins, so a throwaway account can
// buy nothing; the operator registers, is named admin by uid and restarts; a top-up (retried
// with its key) credits once and shows in the audit log; the credited coins buy a gift.
func TestWalletsFromAdminTopupOnly(t *testing.T) {
	dir := t.TempDir()
	start := func(admins ...int64) (Node, func()) {
		cfg := config.Defaults()
		cfg.DataDir = dir
		cfg.Gateway.HTTPAddr = "127.0.0.1:0"
		cfg.Gateway.RatePerIP = 0
		cfg.Comet.TCPAddr = "127.0.0.1:0"
		cfg.Media.RTMPAddr = "127.0.0.1:0"
		cfg.Account.BcryptCost = 4
		cfg.Admins = admins
		a, err := app.New(cfg, app.AllNames(), obs.Discard())
		require.NoError(t, err)
		require.NoError(t, a.Start(context.Background()))
		stop := func() { require.NoError(t, a.Stop(context.Background())) }
		return Node{URL: "http://" + a.HTTPAddr().String()}, stop
	}
	n, stop := start()
	op := register(t, n, "operator")
	anchor := register(t, n, "anchor")
	fan := register(t, n, "fan")
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "wallets"}, &room)
	require.Equal(t, 200, code)
	var w struct {
		Balance int64 `json:"balance"`
	}
	code, _ = api(t, n, "GET", "/api/wallet", fan.Token, nil, &w)
	require.Equal(t, 200, code)
	require.Zero(t, w.Balance, "a new account has no coins")
	gift := map[string]any{"gift_id": 3, "num": 1, "idempotency_key": "g1"}
	gifts := fmt.Sprintf("/api/rooms/%d/gifts", room.ID)
	code, _ = api(t, n, "POST", gifts, fan.Token, gift, nil)
	require.Equal(t, 409, code, "nothing to spend")
	topup := fmt.Sprintf("/api/admin/wallets/%d/topup", fan.UID)
	body := map[string]any{"amount": 100, "reason": "welcome", "idempotency_key": "welcome-fan"}
	code, _ = api(t, n, "POST", topup, op.Token, body, nil)
	require.Equal(t, 403, code, "no admins yet")
	stop()

	n, stop = start(op.UID)
	defer stop()
	type credit struct {
		ID       int64 `json:"id"`
		UID      int64 `json:"uid"`
		Amount   int64 `json:"amount"`
		Balance  int64 `json:"balance"`
		ActorUID int64 `json:"actor_uid"`
	}
	var c1, c2 credit
	code, _ = api(t, n, "POST", topup, fan.Token, body, nil)
	require.Equal(t, 403, code, "a user cannot top up their own wallet")
	code, _ = api(t, n, "POST", topup, op.Token, body, &c1)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", topup, op.Token, body, &c2)
	require.Equal(t, 200, code)
	require.Equal(t, c1, c2, "a retry returns the first credit")
	require.Equal(t, credit{ID: c1.ID, UID: fan.UID, Amount: 100, Balance: 100, ActorUID: op.UID}, c1)
	var log struct {
		Credits []credit `json:"credits"`
	}
	code, _ = api(t, n, "GET", "/api/admin/wallets/credits", op.Token, nil, &log)
	require.Equal(t, 200, code)
	require.Equal(t, []credit{c1}, log.Credits)

	var order struct {
		Balance int64 `json:"balance"`
	}
	code, _ = api(t, n, "POST", gifts, fan.Token, gift, &order)
	require.Equal(t, 200, code)
	require.Equal(t, int64(90), order.Balance)
	code, _ = api(t, n, "GET", "/api/wallet", fan.Token, nil, &w)
	require.Equal(t, 200, code)
	require.Equal(t, int64(90), w.Balance)
}
