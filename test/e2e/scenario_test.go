// Package e2e runs zhibo's end-to-end scenarios against a real node started in-process on
// random loopback ports: HTTP API, WebSocket and raw TCP clients speaking the protocol.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// Node is where a scenario finds the platform: the HTTP base URL and the raw TCP address.
type Node struct {
	URL     string // http://127.0.0.1:port
	TCPAddr string // host:port of a comet's raw TCP listener
	WSURL   string // ws://127.0.0.1:port/sub
	RTMP    string // rtmp://127.0.0.1:port/live, the media ingest ("" = none)
}

// api calls the JSON API and decodes data into out; it returns the HTTP status and envelope code.
func api(t testing.TB, n Node, method, path, tok string, body any, out any) (int, int) {
	t.Helper()
	status, code, err := tryAPI(n, method, path, tok, body, out)
	require.NoError(t, err)
	return status, code
}

// tryAPI is api for callers that expect failures (a process down): it returns the error
// instead of failing the test, and is safe off the test's goroutine.
func tryAPI(n Node, method, path, tok string, body any, out any) (int, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.URL+path, rd)
	if err != nil {
		return 0, 0, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return resp.StatusCode, 0, fmt.Errorf("%s %s: %w: %s", method, path, err, raw)
	}
	if out != nil && env.Code == 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return resp.StatusCode, env.Code, fmt.Errorf("%w: %s", err, raw)
		}
	}
	return resp.StatusCode, env.Code, nil
}

type session struct {
	UID   int64  `json:"uid"`
	Token string `json:"token"`
}

func register(t testing.TB, n Node, name string) session {
	var s session
	code, _ := api(t, n, "POST", "/api/auth/register", "", map[string]string{"name": name, "password": "password1"}, &s)
	require.Equal(t, 200, code)
	return s
}

// waitFor reads packets until one satisfies match, failing after the deadline.
func waitFor(t testing.TB, c *viewer.Conn, what string, match func(protocol.Packet) bool) protocol.Packet {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		p, err := c.NextUntil(deadline)
		require.NoError(t, err, "waiting for %s", what)
		if match(p) {
			return p
		}
	}
}

func isCmd(cmd string) func(protocol.Packet) bool {
	return func(p protocol.Packet) bool { return p.Op == protocol.OpMessage && viewer.Cmd(p.Body) == cmd }
}

// CoreScenario is the platform's main path: two users, a live room, a WebSocket viewer
// asking for zlib and a raw TCP viewer asking for brotli; a comment and a gift sent over HTTP
// reach both with Bilibili's field layout, and heartbeats carry the online count.
func CoreScenario(t *testing.T, n Node) {
	ctx := context.Background()
	anchor := register(t, n, fmt.Sprintf("anchor%d", time.Now().UnixNano()%1e6))
	fan := register(t, n, fmt.Sprintf("fan%d", time.Now().UnixNano()%1e6))

	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "e2e room"}, &room)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/live", room.ID), anchor.Token, map[string]bool{"on": true}, nil)
	require.Equal(t, 200, code)

	var info struct {
		Token string `json:"token"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", room.ID), fan.Token, nil, &info)
	require.Equal(t, 200, code)
	ws, err := viewer.Dial(ctx, viewer.Options{Addr: n.WSURL, WS: true, UID: fan.UID, RoomID: room.ID, Token: info.Token, ProtoVer: 2})
	require.NoError(t, err)
	defer ws.Close()

	var guest struct {
		Token string `json:"token"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/xlive/web-room/v1/index/getDanmuInfo?id=%d", room.ID), "", nil, &guest)
	require.Equal(t, 200, code)
	tcp, err := viewer.Dial(ctx, viewer.Options{Addr: n.TCPAddr, UID: 0, RoomID: room.ID, Token: guest.Token, ProtoVer: 3})
	require.NoError(t, err)
	defer tcp.Close()

	// A wrong token for the room is refused.
	_, err = viewer.Dial(ctx, viewer.Options{Addr: n.TCPAddr, RoomID: room.ID + 1000, Token: guest.Token, ProtoVer: 3})
	require.ErrorIs(t, err, viewer.ErrRejected)

	// Heartbeats carry the room's online count: both viewers, once the comet has reported.
	for _, c := range []*viewer.Conn{ws, tcp} {
		require.Eventually(t, func() bool {
			require.NoError(t, c.Heartbeat())
			p := waitFor(t, c, "heartbeat reply", func(p protocol.Packet) bool { return p.Op == protocol.OpHeartbeatReply })
			require.Equal(t, protocol.VerInt, p.Ver)
			pop, ok := protocol.Popularity(p.Body)
			return ok && pop == 2
		}, 15*time.Second, 50*time.Millisecond, "heartbeat reply with popularity 2")
	}

	text := "hello 弹幕 <b>x</b>"
	var sent struct {
		ID int64 `json:"id"`
	}
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), fan.Token, map[string]any{"text": text, "color": 0xFF0000}, &sent)
	require.Equal(t, 200, code)
	var order struct {
		ID    int64 `json:"id"`
		Total int64 `json:"total"`
	}
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/gifts", room.ID), fan.Token,
		map[string]any{"gift_id": 2, "num": 3, "idempotency_key": "e2e-gift-1"}, &order)
	require.Equal(t, 200, code)

	for name, c := range map[string]*viewer.Conn{"ws": ws, "tcp": tcp} {
		p := waitFor(t, c, name+" DANMU_MSG", isCmd("DANMU_MSG"))
		var dm struct {
			Info []json.RawMessage `json:"info"`
		}
		require.NoError(t, json.Unmarshal(p.Body, &dm))
		var got string
		require.NoError(t, json.Unmarshal(dm.Info[1], &got))
		require.Equal(t, text, got, name)
		var user []any
		require.NoError(t, json.Unmarshal(dm.Info[2], &user))
		require.Equal(t, float64(fan.UID), user[0], name)
		require.Contains(t, user[1], "fan", name)
		var meta []any
		require.NoError(t, json.Unmarshal(dm.Info[0], &meta))
		require.Equal(t, float64(0xFF0000), meta[3], name)

		p = waitFor(t, c, name+" SEND_GIFT", isCmd("SEND_GIFT"))
		var g struct {
			Data struct {
				GiftID    int64  `json:"giftId"`
				Num       int64  `json:"num"`
				UID       int64  `json:"uid"`
				Uname     string `json:"uname"`
				TotalCoin int64  `json:"total_coin"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(p.Body, &g))
		require.Equal(t, int64(2), g.Data.GiftID, name)
		require.Equal(t, int64(3), g.Data.Num, name)
		require.Equal(t, fan.UID, g.Data.UID, name)
		require.Contains(t, g.Data.Uname, "fan", name)
		require.Equal(t, order.Total, g.Data.TotalCoin, name)
	}

	// The gift climbs the rank once the aggregation window has passed.
	require.Eventually(t, func() bool {
		var rank struct {
			Items []struct {
				UID   int64 `json:"uid"`
				Score int64 `json:"score"`
			} `json:"items"`
			AnchorScore int64 `json:"anchor_score"`
		}
		api(t, n, "GET", fmt.Sprintf("/api/rooms/%d/rank", room.ID), "", nil, &rank)
		return len(rank.Items) == 1 && rank.Items[0].UID == fan.UID && rank.Items[0].Score == order.Total && rank.AnchorScore == order.Total
	}, 15*time.Second, 50*time.Millisecond)
}
