package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/app"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// startAllInOne runs every component in this process on random loopback ports.
func startAllInOne(t *testing.T, mods ...func(*config.Config)) Node {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Gateway.RatePerIP = 0
	cfg.Comet.TCPAddr = "127.0.0.1:0"
	cfg.Media.RTMPAddr = "127.0.0.1:0"
	cfg.Comet.ReportInterval = 100 * time.Millisecond
	cfg.Logic.CountInterval = 200 * time.Millisecond
	cfg.Account.BcryptCost = 4
	cfg.Account.Limits.RegisterPerIPHour = 0 // every test user registers from 127.0.0.1
	cfg.Job.Window = 20 * time.Millisecond
	// Wallets start empty by default; the scenarios send gifts from fresh accounts.
	cfg.Gift.InitialBalance = 1000
	for _, m := range mods {
		m(&cfg)
	}
	a, err := app.New(cfg, app.AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	http := a.HTTPAddr().String()
	return Node{URL: "http://" + http, WSURL: "ws://" + http + "/sub", TCPAddr: a.TCPAddr().String(),
		RTMP: "rtmp://" + a.RTMPAddr().String() + "/live"}
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

// The served OpenAPI description is one valid document: every $ref points at something it
// defines, and every public route is described.
func TestOpenAPIIsComplete(t *testing.T) {
	n := startAllInOne(t)
	resp, err := http.Get(n.URL + "/api/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	require.NotEmpty(t, refs)
	for _, ref := range refs {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var cur any = doc
		for _, p := range parts {
			m, ok := cur.(map[string]any)
			require.True(t, ok, "ref %s", ref)
			cur, ok = m[p]
			require.True(t, ok, "dangling ref %s", ref)
		}
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/auth/logout-all",
		"/api/auth/password", "/api/me", "/api/rooms", "/api/rooms/{id}",
		"/api/rooms/{id}/live", "/api/rooms/{id}/danmu-info", "/xlive/web-room/v1/index/getDanmuInfo",
		"/api/rooms/{id}/danmaku", "/api/rooms/{id}/mutes", "/api/rooms/{id}/mutes/{uid}", "/api/gifts",
		"/api/rooms/{id}/gifts", "/api/rooms/{id}/rank", "/api/push/rooms/{id}", "/api/push/users", "/api/push/all", "/api/admin/hot", "/api/admin/hot/rooms/{id}", "/api/admin/hot/keys/{key}",
		"/api/admin/wallets/{uid}/topup", "/api/admin/wallets/credits", "/api/admin/config/reload",
		"/api/room/enter", "/api/home", "/api/admin/switches", "/api/admin/rooms/{id}/switches"} {
		require.Contains(t, paths, p)
	}
}

// The core scenario with the shared cache on the real Redis: room reads go through it.
func TestAllInOneWithRedis(t *testing.T) {
	addr := os.Getenv("ZHIBO_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("ZHIBO_TEST_REDIS_ADDR not set: Redis end-to-end test skipped")
	}
	n := startAllInOne(t, func(c *config.Config) {
		c.Redis.Addr = addr
		c.Redis.Prefix = fmt.Sprintf("e2e%d:", time.Now().UnixNano())
	})
	CoreScenario(t, n)
}
