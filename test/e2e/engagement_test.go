package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// TestEngagement: a comment and a gift earn their sender experience shown by /api/me (a
// replayed gift earns nothing more), and likes — a retried key counted once — reach the
// room's stats and its viewers as LIKE_INFO_V3_UPDATE.
func TestEngagement(t *testing.T) {
	n := startAllInOne(t)
	EngagementScenario(t, n)
}

// The same on a split cluster over the real NATS: the granting components publish, account
// folds, and the like update travels logic → job → comet.
func TestSplitEngagement(t *testing.T) {
	c := startCluster(t)
	n := c.rest
	n.WSURL = c.comet1WS
	EngagementScenario(t, n)
}

// EngagementScenario runs the likes and experience path against a node.
func EngagementScenario(t *testing.T, n Node) {
	ctx := context.Background()
	anchor := register(t, n, fmt.Sprintf("host%d", time.Now().UnixNano()%1e6))
	fan := register(t, n, fmt.Sprintf("liker%d", time.Now().UnixNano()%1e6))
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "likes"}, &room)
	require.Equal(t, 200, code)
	var info struct {
		Token string `json:"token"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", room.ID), fan.Token, nil, &info)
	require.Equal(t, 200, code)
	ws, err := viewer.Dial(ctx, viewer.Options{Addr: n.WSURL, WS: true, UID: fan.UID, RoomID: room.ID, Token: info.Token, ProtoVer: 3})
	require.NoError(t, err)
	defer ws.Close()

	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), fan.Token, map[string]any{"text": "hi"}, nil)
	require.Equal(t, 200, code)
	gift := map[string]any{"gift_id": 2, "num": 3, "idempotency_key": "engage-1"} // 3 × 5 coins
	for range 2 {
		code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/gifts", room.ID), fan.Token, gift, nil)
		require.Equal(t, 200, code)
	}
	var me struct {
		Exp   int64 `json:"exp"`
		Level int   `json:"level"`
	}
	require.Eventually(t, func() bool {
		code, _ := api(t, n, "GET", "/api/me", fan.Token, nil, &me)
		return code == 200 && me.Exp == 16
	}, 15*time.Second, 50*time.Millisecond, "exp never reached 1 + 15")
	require.Equal(t, 2, me.Level)

	likes := fmt.Sprintf("/api/rooms/%d/likes", room.ID)
	var acc struct {
		Accepted int `json:"accepted"`
	}
	for range 2 {
		code, _ = api(t, n, "POST", likes, fan.Token, map[string]any{"count": 3, "idempotency_key": "tap-1"}, &acc)
		require.Equal(t, 200, code)
		require.Equal(t, 3, acc.Accepted)
	}
	code, _ = api(t, n, "POST", likes, fan.Token, map[string]any{"count": 0}, nil)
	require.Equal(t, 400, code)
	code, _ = api(t, n, "POST", likes, "", map[string]any{"count": 1}, nil)
	require.Equal(t, 401, code)
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/likes", room.ID+1000), fan.Token, map[string]any{"count": 1}, nil)
	require.Equal(t, 404, code)

	p := waitFor(t, ws, "LIKE_INFO_V3_UPDATE", isCmd("LIKE_INFO_V3_UPDATE"))
	var li struct {
		Data struct {
			ClickCount int64 `json:"click_count"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(p.Body, &li))
	require.Equal(t, int64(3), li.Data.ClickCount)
	require.Equal(t, protocol.OpMessage, p.Op)
	var v struct {
		Stats struct {
			Likes int64 `json:"likes"`
		} `json:"stats"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/rooms/%d?mask=stats", room.ID), "", nil, &v)
	require.Equal(t, 200, code)
	require.Equal(t, int64(3), v.Stats.Likes)
}
