package bff_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/bff"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// inbox is GET /api/im/inbox as a client decodes it; modules stay raw to tell their shapes
// apart.
type inbox struct {
	Chats    json.RawMessage `json:"chats"`
	Unread   json.RawMessage `json:"unread"`
	Groups   json.RawMessage `json:"groups"`
	Notices  json.RawMessage `json:"notices"`
	Settings json.RawMessage `json:"settings"`
}

func (e *env) inbox(tok, query string) inbox {
	var in inbox
	require.Equal(e.t, 200, get(e.t, "GET", e.url+"/api/im/inbox"+query, tok, nil, &in))
	return in
}

// imFixture gives bob a message from alice, a group with one unread message and a system
// notice, each stored, and returns bob's token.
func (e *env) imFixture() (alice, bob int64, tok string) {
	ctx := context.Background()
	a, b := e.user("alice"), e.user("bob")
	_, _, err := e.a.IMChat.Send(ctx, a.UID, chat.SendInput{To: b.UID, Text: "hello bob"})
	require.NoError(e.t, err)
	g, err := e.a.IMGroup.Create(ctx, a.UID, "friends", []int64{b.UID})
	require.NoError(e.t, err)
	_, _, err = e.a.IMGroup.Send(ctx, a.UID, g.ID, group.SendInput{Text: "hello group"})
	require.NoError(e.t, err)
	_, err = e.a.IMNotice.Send(ctx, notice.Batch{Notice: notice.Notice{Business: "test", Kind: notice.KindSystem,
		Lane: notice.LaneHigh, Title: "welcome", Body: "hi"}, Recipients: notice.Recipients{UIDs: []int64{b.UID}}})
	require.NoError(e.t, err)
	require.Eventually(e.t, func() bool {
		n, err1 := e.a.IMChat.Unread(ctx, b.UID)
		gp, err2 := e.a.IMGroup.Groups(ctx, b.UID, "", 10)
		u, err3 := e.a.IMNotice.UnreadByKind(ctx, b.UID)
		return err1 == nil && err2 == nil && err3 == nil && n == 1 && len(gp.Items) == 1 && gp.Items[0].Unread == 1 && u["system"] == 1
	}, 10*time.Second, 10*time.Millisecond, "stored")
	return a.UID, b.UID, b.Token
}

// The inbox is one call: the first page of conversations, the unread total, the first page of
// groups and the unread notices, each what its component answers, each component called once.
func TestInbox(t *testing.T) {
	e := start(t, time.Second)
	alice, bob, tok := e.imFixture()
	ctx := context.Background()
	require.NoError(t, e.a.IMChat.SetSettings(ctx, bob, chat.Settings{Allow: chat.AllowFollowers,
		DND: chat.DND{On: true, From: "22:00", To: "07:00", TZ: "Asia/Shanghai"}}))

	in := e.inbox(tok, "")
	wantChats, err := e.a.IMChat.Conversations(ctx, bob, chat.FolderAll, "", 20)
	require.NoError(t, err)
	wantGroups, err := e.a.IMGroup.Groups(ctx, bob, "", 20)
	require.NoError(t, err)
	var chats chat.Page
	require.NoError(t, json.Unmarshal(in.Chats, &chats))
	require.Equal(t, wantChats, chats)
	require.Len(t, chats.Items, 1)
	require.Equal(t, alice, chats.Items[0].Peer)
	require.Equal(t, "hello bob", chats.Items[0].Last.Text)
	require.JSONEq(t, `1`, string(in.Unread))
	var groups group.GroupPage
	require.NoError(t, json.Unmarshal(in.Groups, &groups))
	require.Equal(t, wantGroups, groups)
	require.Equal(t, 1, groups.Items[0].Unread)
	require.JSONEq(t, `{"system":1,"mention":0,"like":0,"follow":0,"reply":0}`, string(in.Notices))
	require.JSONEq(t, `{"allow":1,"dnd":{"on":true,"from":"22:00","to":"07:00","tz":"Asia/Shanghai"}}`, string(in.Settings),
		"the do-not-disturb hours ride along with the settings")
	require.Equal(t, map[string]int{"Conversations": 1, "Unread": 1, "Settings": 1}, e.chats.Calls())
	require.Equal(t, map[string]int{"Groups": 1}, e.groups.Calls())
	require.Equal(t, map[string]int{"UnreadByKind": 1}, e.notices.Calls())

	// The folder and the page sizes are the client's.
	in = e.inbox(tok, "?folder=main&limit=5&group_limit=1")
	require.NoError(t, json.Unmarshal(in.Chats, &chats))
	require.Empty(t, chats.Items, "bob never wrote: alice's chat is in his strangers folder")
	in = e.inbox(tok, "?folder=strangers")
	require.NoError(t, json.Unmarshal(in.Chats, &chats))
	require.Len(t, chats.Items, 1)

	require.Equal(t, 401, get(t, "GET", e.url+"/api/im/inbox", "", nil, nil), "a guest has no inbox")
	for _, q := range []string{"?folder=spam", "?limit=0", "?limit=501", "?group_limit=201", "?limit=x"} {
		require.Equal(t, 400, get(t, "GET", e.url+"/api/im/inbox"+q, tok, nil, nil), q)
	}
}

// A module whose component hangs (ignoring its context) is sent as degraded once
// bff.im_module_timeout passes; the inbox answers within that timeout plus a small margin,
// the other modules intact, and the degraded module is counted.
func TestInboxDegradesAHangingModule(t *testing.T) {
	const timeout = 150 * time.Millisecond
	e := start(t, timeout)
	_, _, tok := e.imFixture()
	e.inbox(tok, "") // warm

	for _, hang := range []struct {
		module string
		client interface{ Hang(string) }
		method string
		intact []string
	}{
		{"chats", e.chats, "Conversations", []string{"unread", "groups", "notices", "settings"}},
		{"settings", e.chats, "Settings", []string{"chats", "unread", "groups", "notices"}},
		{"groups", e.groups, "Groups", []string{"chats", "unread", "notices", "settings"}},
		{"notices", e.notices, "UnreadByKind", []string{"chats", "unread", "groups", "settings"}},
	} {
		hang.client.Hang(hang.method)
		var took []time.Duration
		for range 10 {
			start := time.Now()
			in := e.inbox(tok, "")
			took = append(took, time.Since(start))
			got := map[string]json.RawMessage{"chats": in.Chats, "unread": in.Unread, "groups": in.Groups, "notices": in.Notices,
				"settings": in.Settings}
			require.True(t, isDegraded(got[hang.module]), "%s: %s", hang.module, got[hang.module])
			for _, m := range hang.intact {
				require.False(t, isDegraded(got[m]), "%s degraded while %s hangs", m, hang.module)
				require.NotEqual(t, "null", string(got[m]), m)
			}
		}
		slices.Sort(took)
		t.Logf("inbox with %s hanging: median %v, slowest %v (timeout %v)", hang.module, took[len(took)/2], took[len(took)-1], timeout)
		require.GreaterOrEqual(t, took[0], timeout, "the inbox waits for the module until its timeout")
		require.LessOrEqual(t, took[len(took)-1], timeout+50*time.Millisecond, "the inbox does not wait past the timeout")
		require.EqualValues(t, 10, counter(t, e.reg, "zhibo_bff_module_degraded_total", map[string]string{"module": hang.module}))
		e.chats.Release()
		e.groups.Release()
		e.notices.Release()
	}
	in := e.inbox(tok, "")
	require.False(t, isDegraded(in.Chats) || isDegraded(in.Unread) || isDegraded(in.Groups) || isDegraded(in.Notices),
		"the modules recover with their components")
}

// A BFF without the IM components (none in its process nor in peers) answers the inbox with
// their modules null, without a call, counted as skipped.
func TestInboxWithoutIMComponents(t *testing.T) {
	e := start(t, time.Second)
	reg := prometheus.NewRegistry()
	svc, err := bff.New(e.cfg.BFF, bff.Deps{Logger: obs.Discard(), Registry: reg, Rooms: e.rooms, Gifts: e.gifts,
		Danmaku: e.dm, DanmuInfo: e.a.LogicAPI.DanmuInfoFor})
	require.NoError(t, err)
	in := svc.Inbox(context.Background(), 1, chat.FolderAll, 20, 20)
	require.Equal(t, bff.Inbox{}, in)
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"chats":null,"unread":null,"groups":null,"notices":null,"settings":null}`, string(raw))
	for _, m := range []string{"chats", "unread", "groups", "notices", "settings"} {
		require.EqualValues(t, 1, counter(t, reg, "zhibo_bff_module_skipped_total", map[string]string{"module": m, "reason": "absent"}), m)
	}
	require.Zero(t, counter(t, reg, "zhibo_bff_module_degraded_total", map[string]string{"module": "chats"}))
}
