package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/app"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// startAllInOne runs every component in this process on random loopback ports.
func startAllInOne(t *testing.T) Node {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Gateway.RatePerIP = 0
	cfg.Comet.TCPAddr = "127.0.0.1:0"
	cfg.Comet.ReportInterval = 100 * time.Millisecond
	cfg.Logic.CountInterval = 200 * time.Millisecond
	cfg.Account.BcryptCost = 4
	cfg.Job.Window = 20 * time.Millisecond
	a, err := app.New(cfg, app.AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	http := a.HTTPAddr().String()
	return Node{URL: "http://" + http, WSURL: "ws://" + http + "/sub", TCPAddr: a.TCPAddr().String()}
}

func TestAllInOne(t *testing.T) {
	n := startAllInOne(t)
	CoreScenario(t, n)
}

func TestAllInOneRejectsBadInput(t *testing.T) {
	n := startAllInOne(t)
	a := register(t, n, "badinput")
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", a.Token, map[string]string{"title": "r"}, &room)
	require.Equal(t, 200, code)
	for _, c := range []struct {
		method, path, tok string
		body              any
		status            int
	}{
		{"POST", "/api/rooms/999999/danmaku", a.Token, map[string]string{"text": "hi"}, 404},
		{"POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), "", map[string]string{"text": "hi"}, 401},
		{"POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), "expired.token", map[string]string{"text": "hi"}, 401},
		{"POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), a.Token, map[string]any{"text": 5}, 400},
		{"POST", fmt.Sprintf("/api/rooms/%d/gifts", room.ID), a.Token, map[string]any{"gift_id": 1, "num": -1, "idempotency_key": "k"}, 400},
		{"GET", fmt.Sprintf("/api/rooms/%d?mask=nope", room.ID), "", nil, 400},
		{"GET", "/api/no/such/route", "", nil, 404},
	} {
		status, _ := api(t, n, c.method, c.path, c.tok, c.body, nil)
		require.Equal(t, c.status, status, "%s %s", c.method, c.path)
	}
}
