package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// ReplyScenario: a viewer replies to another's bullet comment; the reply is stored, listed and
// pushed to the room with the comment it answers and its sender's name (a guest's connection
// reads them in DANMU_MSG's extra), and the sender of the comment answered gets exactly one
// reply notice — none more though the reply names them too, none for a reply to oneself — with
// its own unread count; replies to no comment or to another room's are refused with their codes.
// Written once, run all-in-one and with every component alone (im-notice reads danmaku's
// comments from NATS).
func ReplyScenario(t *testing.T, n Node) {
	ctx := context.Background()
	suffix := time.Now().UnixNano() % 1e6
	anchor := register(t, n, fmt.Sprintf("ranchor%d", suffix))
	bob := register(t, n, fmt.Sprintf("rbob%d", suffix))
	carol := register(t, n, fmt.Sprintf("rcarol%d", suffix))
	var rooms [2]struct {
		ID int64 `json:"id"`
	}
	for i, owner := range []session{anchor, bob} { // one room a user
		code, _ := api(t, n, "POST", "/api/rooms", owner.Token, map[string]string{"title": fmt.Sprint("replies ", i)}, &rooms[i])
		require.Equal(t, 200, code)
	}
	room := rooms[0].ID
	path := fmt.Sprintf("/api/rooms/%d/danmaku", room)
	var guest struct {
		Token string `json:"token"`
	}
	code, _ := api(t, n, "GET", fmt.Sprintf("/xlive/web-room/v1/index/getDanmuInfo?id=%d", room), "", nil, &guest)
	require.Equal(t, 200, code)
	ws, err := viewer.Dial(ctx, viewer.Options{Addr: n.WSURL, WS: true, RoomID: room, Token: guest.Token, ProtoVer: 2})
	require.NoError(t, err)
	defer ws.Close()

	type sent struct {
		ID int64 `json:"id"`
	}
	var first, reply, own, elsewhere sent
	code, _ = api(t, n, "POST", path, bob.Token, map[string]any{"text": "first!"}, &first)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", rooms[1].ID), bob.Token, map[string]any{"text": "elsewhere"}, &elsewhere)
	require.Equal(t, 200, code)
	replyText := fmt.Sprintf("@rbob%d welcome", suffix)
	code, _ = api(t, n, "POST", path, carol.Token, map[string]any{"text": replyText, "reply_to": first.ID}, &reply)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", path, carol.Token, map[string]any{"text": "mine"}, &own)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", path, carol.Token, map[string]any{"text": "me again", "reply_to": own.ID}, nil)
	require.Equal(t, 200, code)
	code, ecode := api(t, n, "POST", path, carol.Token, map[string]any{"text": "to nothing", "reply_to": 12345}, nil)
	require.Equal(t, 404, code)
	require.Equal(t, -20009, ecode)
	code, ecode = api(t, n, "POST", path, carol.Token, map[string]any{"text": "across", "reply_to": elsewhere.ID}, nil)
	require.Equal(t, 400, code)
	require.Equal(t, -20010, ecode)

	// The room's viewers get the reply with what it answers.
	p := waitFor(t, ws, "the reply's DANMU_MSG", func(p protocol.Packet) bool { return danmuText(p) == replyText })
	var dm struct {
		Info []json.RawMessage `json:"info"`
	}
	require.NoError(t, json.Unmarshal(p.Body, &dm))
	var meta []json.RawMessage
	require.NoError(t, json.Unmarshal(dm.Info[0], &meta))
	var obj struct{ Extra string }
	require.NoError(t, json.Unmarshal(meta[15], &obj))
	var extra map[string]any
	require.NoError(t, json.Unmarshal([]byte(obj.Extra), &extra))
	require.Equal(t, float64(bob.UID), extra["reply_mid"])
	require.Equal(t, fmt.Sprintf("rbob%d", suffix), extra["reply_uname"])
	require.Equal(t, strconv.FormatInt(first.ID, 10), extra["reply_id_str"])

	// The history lists it the same way.
	var hist struct {
		Items []struct {
			ID         int64  `json:"id"`
			ReplyTo    int64  `json:"reply_to"`
			ReplyUID   int64  `json:"reply_uid"`
			ReplyUname string `json:"reply_uname"`
		} `json:"items"`
	}
	code, _ = api(t, n, "GET", path, "", nil, &hist)
	require.Equal(t, 200, code)
	require.Len(t, hist.Items, 4)
	require.Equal(t, reply.ID, hist.Items[1].ID)
	require.Equal(t, first.ID, hist.Items[1].ReplyTo)
	require.Equal(t, bob.UID, hist.Items[1].ReplyUID)
	require.Equal(t, fmt.Sprintf("rbob%d", suffix), hist.Items[1].ReplyUname)

	// Bob: one reply notice, no mention besides.
	type item struct {
		ID      int64  `json:"id"`
		Title   string `json:"title"`
		Body    string `json:"body"`
		RoomID  int64  `json:"room_id"`
		ReplyTo int64  `json:"reply_to"`
		Sender  int64  `json:"sender"`
	}
	notices := func(tok, kind string) []item {
		var in struct {
			Items []item `json:"items"`
		}
		code, _ := api(t, n, "GET", "/api/im/notices?kind="+kind, tok, nil, &in)
		require.Equal(t, 200, code)
		return in.Items
	}
	require.Eventually(t, func() bool { return len(notices(bob.Token, "reply")) == 1 }, 15*time.Second, 50*time.Millisecond, "reply notice")
	got := notices(bob.Token, "reply")[0]
	require.Equal(t, item{ID: got.ID, Title: fmt.Sprintf("rcarol%d replied to your comment", suffix), Body: replyText, RoomID: room,
		ReplyTo: first.ID, Sender: carol.UID}, got)
	unread := func(tok string) map[string]int64 {
		var n2 map[string]int64
		code, _ := api(t, n, "GET", "/api/im/notices/unread", tok, nil, &n2)
		require.Equal(t, 200, code)
		return n2
	}
	require.Equal(t, map[string]int64{"system": 0, "mention": 0, "like": 0, "follow": 0, "reply": 1}, unread(bob.Token))
	// A second notice, or a mention besides, would have come by now. (Not require.Never: its
	// last call may outlive the test, and the platform with it.)
	time.Sleep(500 * time.Millisecond)
	require.Len(t, notices(bob.Token, "reply"), 1)
	require.Empty(t, notices(bob.Token, "mention"))
	require.Empty(t, notices(carol.Token, "reply"), "a reply to oneself notifies nobody")
	code, _ = api(t, n, "POST", "/api/im/notices/read", bob.Token, map[string]any{"kind": "reply", "read_id": got.ID}, nil)
	require.Equal(t, 200, code)
	require.Zero(t, unread(bob.Token)["reply"])
}

func TestReplyAllInOne(t *testing.T) {
	ReplyScenario(t, startAllInOne(t))
}
