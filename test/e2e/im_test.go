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

type imMsg struct {
	ID       int64  `json:"id"`
	From     int64  `json:"from"`
	To       int64  `json:"to"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
	Recalled bool   `json:"recalled"`
	Replay   bool   `json:"replay"`
}

// imEvent decodes a pushed IM event's data.
func imEvent(t *testing.T, p protocol.Packet, out any) {
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(p.Body, &ev))
	require.NoError(t, json.Unmarshal(ev.Data, out))
}

// ownChannel opens u's own channel (room 0 on the comet, over WebSocket), where their private
// messages and notices are pushed.
func ownChannel(t *testing.T, n Node, u session) *viewer.Conn {
	t.Helper()
	var info struct {
		Token string `json:"token"`
	}
	code, _ := api(t, n, "GET", "/api/channel", u.Token, nil, &info)
	require.Equal(t, 200, code)
	ch, err := viewer.Dial(context.Background(), viewer.Options{Addr: n.WSURL, WS: true, UID: u.UID, RoomID: 0, Token: info.Token, ProtoVer: 2})
	require.NoError(t, err)
	return ch
}

// IMScenario is a private chat through the gateway: the receiver holds its own channel (a
// long connection to room 0) and gets the message live; the conversation list, the unread
// total and read receipts follow; a recall reaches both sides; a replayed send is one message.
func IMScenario(t *testing.T, n Node) {
	a := register(t, n, fmt.Sprintf("ima%d", time.Now().UnixNano()%1e6))
	b := register(t, n, fmt.Sprintf("imb%d", time.Now().UnixNano()%1e6))
	ch := ownChannel(t, n, b)
	defer ch.Close()
	code, _ := api(t, n, "GET", "/api/channel", "", nil, nil)
	require.Equal(t, 401, code, "guests have no channel")

	var sent imMsg
	code, _ = api(t, n, "POST", "/api/im/messages", a.Token, map[string]any{"to": b.UID, "text": "你好 b", "client_id": "e2e-1"}, &sent)
	require.Equal(t, 200, code)
	var got imMsg
	imEvent(t, waitFor(t, ch, "IM_MSG", isCmd("IM_MSG")), &got)
	require.Equal(t, sent.ID, got.ID)
	require.Equal(t, "你好 b", got.Text)
	require.Equal(t, a.UID, got.From)

	var again imMsg
	code, _ = api(t, n, "POST", "/api/im/messages", a.Token, map[string]any{"to": b.UID, "text": "你好 b", "client_id": "e2e-1"}, &again)
	require.Equal(t, 200, code)
	require.Equal(t, sent.ID, again.ID, "a replayed client id is the same message")

	var unread struct {
		Total int64 `json:"total"`
	}
	require.Eventually(t, func() bool {
		api(t, n, "GET", "/api/im/unread", b.Token, nil, &unread)
		return unread.Total == 1
	}, 10*time.Second, 20*time.Millisecond, "stored and counted once")
	var list struct {
		Items []struct {
			Peer     int64  `json:"peer"`
			PeerName string `json:"peer_name"`
			Unread   int64  `json:"unread"`
			Last     imMsg  `json:"last"`
		} `json:"items"`
	}
	code, _ = api(t, n, "GET", "/api/im/conversations", b.Token, nil, &list)
	require.Equal(t, 200, code)
	require.Len(t, list.Items, 1)
	require.Equal(t, a.UID, list.Items[0].Peer)
	require.EqualValues(t, 1, list.Items[0].Unread)
	require.Equal(t, sent.ID, list.Items[0].Last.ID)

	code, _ = api(t, n, "POST", fmt.Sprintf("/api/im/conversations/%d/read", a.UID), b.Token, map[string]int64{"read_id": sent.ID}, nil)
	require.Equal(t, 200, code)
	waitFor(t, ch, "IM_READ on the reader's other devices", isCmd("IM_READ"))
	api(t, n, "GET", "/api/im/unread", b.Token, nil, &unread)
	require.Zero(t, unread.Total)
	var chat struct {
		PeerReadID int64 `json:"peer_read_id"`
	}
	api(t, n, "GET", fmt.Sprintf("/api/im/conversations/%d/messages", b.UID), a.Token, nil, &chat)
	require.Equal(t, sent.ID, chat.PeerReadID, "the sender sees it read")

	code, _ = api(t, n, "POST", fmt.Sprintf("/api/im/messages/%d/recall", sent.ID), a.Token, nil, nil)
	require.Equal(t, 200, code)
	var rc struct {
		ID int64 `json:"id"`
	}
	imEvent(t, waitFor(t, ch, "IM_RECALL", isCmd("IM_RECALL")), &rc)
	require.Equal(t, sent.ID, rc.ID)

	code, _ = api(t, n, "PUT", fmt.Sprintf("/api/im/blocks/%d", a.UID), b.Token, nil, nil)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", "/api/im/messages", a.Token, map[string]any{"to": b.UID, "text": "blocked"}, nil)
	require.Equal(t, 403, code)

	// A group: created by a with b, a message reaches b's channel and is counted unread once stored.
	var g struct {
		ID int64 `json:"id"`
	}
	code, _ = api(t, n, "POST", "/api/im/groups", a.Token, map[string]any{"name": "e2e group", "members": []int64{b.UID}}, &g)
	require.Equal(t, 200, code)
	var gm imMsg
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), a.Token, map[string]any{"text": "to the group"}, &gm)
	require.Equal(t, 200, code)
	var got2 imMsg
	imEvent(t, waitFor(t, ch, "IM_GROUP_MSG", isCmd("IM_GROUP_MSG")), &got2)
	require.Equal(t, gm.ID, got2.ID)
	var groups struct {
		Items []struct {
			ID     int64 `json:"id"`
			Unread int   `json:"unread"`
		} `json:"items"`
	}
	require.Eventually(t, func() bool {
		api(t, n, "GET", "/api/im/groups", b.Token, nil, &groups)
		return len(groups.Items) == 1 && groups.Items[0].Unread == 1
	}, 10*time.Second, 20*time.Millisecond)

	// The inbox in one call from the BFF: each module what its component answers.
	var inbox struct {
		Chats struct {
			Items []struct {
				Peer int64 `json:"peer"`
			} `json:"items"`
		} `json:"chats"`
		Unread  json.RawMessage `json:"unread"`
		Groups  json.RawMessage `json:"groups"`
		Notices json.RawMessage `json:"notices"`
	}
	code, _ = api(t, n, "GET", "/api/im/inbox", b.Token, nil, &inbox)
	require.Equal(t, 200, code)
	require.Len(t, inbox.Chats.Items, 1)
	require.Equal(t, a.UID, inbox.Chats.Items[0].Peer)
	require.JSONEq(t, "0", string(inbox.Unread), "read before")
	var inboxGroups struct {
		Items []struct {
			ID     int64 `json:"id"`
			Unread int   `json:"unread"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(inbox.Groups, &inboxGroups), "%s", inbox.Groups)
	require.Equal(t, groups.Items, inboxGroups.Items)
	require.JSONEq(t, `{"system":0,"mention":0,"like":0,"follow":0,"reply":0}`, string(inbox.Notices))
	code, _ = api(t, n, "GET", "/api/im/inbox", "", nil, nil)
	require.Equal(t, 401, code)
}

func TestIMAllInOne(t *testing.T) {
	IMScenario(t, startAllInOne(t))
}
