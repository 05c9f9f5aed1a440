package bff_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/app"
	"github.com/zhibo-live/zhibo/internal/bff"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/danmaku/danmakutest"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/gift/gifttest"
	"github.com/zhibo-live/zhibo/internal/im/chat/chattest"
	"github.com/zhibo-live/zhibo/internal/im/group/grouptest"
	"github.com/zhibo-live/zhibo/internal/im/notice/noticetest"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/internal/room/roomtest"
)

// env is a zhibo process with every component (real stores, queue and token key) and a BFF
// built over its components through counting wrappers, served on its own test server.
type env struct {
	t       *testing.T
	cfg     config.Config
	a       *app.App
	gw      string // the process's gateway
	url     string // the test BFF
	rooms   *roomtest.Counting
	gifts   *gifttest.Client
	dm      *danmakutest.Client
	chats   *chattest.Client
	groups  *grouptest.Client
	notices *noticetest.Client
	acc     *accounttest.Client
	reg     *prometheus.Registry // the test BFF's metrics
	svc     *bff.Service
}

func start(t *testing.T, moduleTimeout time.Duration) *env {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Gateway.RatePerIP = 0
	cfg.Comet.TCPAddr = "127.0.0.1:0"
	cfg.Media.RTMPAddr = "127.0.0.1:0"
	cfg.Account.BcryptCost = 4
	cfg.Account.Limits.RegisterPerIPHour = 0
	cfg.Gift.InitialBalance = 1000
	a, err := app.New(cfg, app.AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })

	e := &env{t: t, cfg: cfg, a: a, gw: "http://" + a.HTTPAddr().String(), rooms: roomtest.Count(a.Room),
		gifts: gifttest.Wrap(a.Gift), dm: danmakutest.Wrap(a.Danmaku), chats: chattest.Wrap(a.IMChat),
		groups: grouptest.Wrap(a.IMGroup), notices: noticetest.Wrap(a.IMNotice), acc: accounttest.Wrap(a.Account),
		reg: prometheus.NewRegistry()}
	// Before the app stops: no call is left hanging.
	for _, r := range []func(){e.gifts.Release, e.dm.Release, e.chats.Release, e.groups.Release, e.notices.Release, e.acc.Release} {
		t.Cleanup(r)
	}
	bcfg := cfg.BFF
	bcfg.ModuleTimeout, bcfg.IMModuleTimeout = moduleTimeout, moduleTimeout
	svc, err := bff.New(bcfg, bff.Deps{Logger: obs.Discard(), Registry: e.reg, Rooms: e.rooms, Gifts: e.gifts,
		Danmaku: e.dm, DanmuInfo: a.LogicAPI.DanmuInfoFor, Chats: e.chats, Groups: e.groups, Notices: e.notices, Accounts: e.acc})
	require.NoError(t, err)
	e.svc = svc
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(httpx.Identify(a.Account, nil, mux))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) user(name string) account.Session {
	s, err := e.a.Account.SignUp(context.Background(), name, "password-"+name)
	require.NoError(e.t, err)
	return s
}

func (e *env) room(owner int64, title string) int64 {
	r, err := e.a.Room.Create(context.Background(), owner, room.Fields{Title: &title})
	require.NoError(e.t, err)
	return r.ID
}

// page is the room page as a client decodes it; modules stay raw to tell their shapes apart.
type page struct {
	Room      room.View       `json:"room"`
	Playback  *room.PlayURLs  `json:"playback"`
	Switches  map[string]bool `json:"switches"`
	DanmuInfo json.RawMessage `json:"danmu_info"`
	Comments  json.RawMessage `json:"comments"`
	Gifts     json.RawMessage `json:"gifts"`
	Wallet    json.RawMessage `json:"wallet"`
	Rank      json.RawMessage `json:"rank"`
	Viewer    json.RawMessage `json:"viewer"`
	Anchor    json.RawMessage `json:"anchor"`
}

func (p page) module(name string) json.RawMessage {
	return map[string]json.RawMessage{"danmu_info": p.DanmuInfo, "comments": p.Comments, "gifts": p.Gifts,
		"wallet": p.Wallet, "rank": p.Rank, "viewer": p.Viewer, "anchor": p.Anchor}[name]
}

// get calls base+path with tok (empty = guest) and decodes the envelope's data into out.
func get(t *testing.T, method, url, tok string, body any, out any) int {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	if out != nil && resp.StatusCode == 200 {
		require.NoError(t, json.Unmarshal(env.Data, out))
	}
	return resp.StatusCode
}

func (e *env) enter(id int64, tok string) page {
	var p page
	require.Equal(e.t, 200, get(e.t, "GET", fmt.Sprintf("%s/api/room/enter?id=%d", e.url, id), tok, nil, &p))
	return p
}

// roomReads is the room component's own count of room reads (every caller, every path).
func (e *env) roomReads() float64 {
	mfs, err := e.a.Reg.Gather()
	require.NoError(e.t, err)
	for _, mf := range mfs {
		if mf.GetName() == "zhibo_room_reads_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	e.t.Fatal("zhibo_room_reads_total not found")
	return 0
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func isDegraded(m json.RawMessage) bool { return string(m) == `{"degraded":true}` }
func isOff(m json.RawMessage) bool      { return string(m) == `{"off":true}` }

// One enter reads the room once — one call to the room Client, one read in the room
// component, none by the modules it feeds (rank, danmu-info) — and fills every module.
func TestEnterReadsTheRoomOnce(t *testing.T) {
	e := start(t, time.Second)
	anchor, fan := e.user("anchor"), e.user("fan")
	id := e.room(anchor.UID, "once")
	_, err := e.a.Gift.Send(context.Background(), gift.SendRequest{RoomID: id, UID: fan.UID, GiftID: 1, Num: 3, Key: "k1"})
	require.NoError(t, err)
	_, err = e.a.Danmaku.Send(context.Background(), id, fan.UID, "hello", 0, 0, 0)
	require.NoError(t, err)

	for _, tok := range []string{"", fan.Token} {
		before, reads := e.rooms.Calls(), e.roomReads()
		p := e.enter(id, tok)
		after := e.rooms.Calls()
		require.Equal(t, before["View"]+1, after["View"], "one room read through the Client")
		require.Equal(t, before["Get"], after["Get"])
		require.Equal(t, reads+1, e.roomReads(), "one read in the room component, whoever asks")

		require.Equal(t, id, p.Room.ID)
		require.Equal(t, "once", p.Room.Base.Title)
		require.Equal(t, "anchor", p.Room.Anchor.Name)
		require.NotNil(t, p.Room.Stats)
		require.Equal(t, map[string]bool{"comments": true, "gifts": true, "rank": true}, p.Switches)
		require.Nil(t, p.Playback, "not live: nothing to play")
		var info struct {
			Token string `json:"token"`
		}
		require.NoError(t, json.Unmarshal(p.DanmuInfo, &info))
		require.NotEmpty(t, info.Token)
		var comments bff.Comments
		require.NoError(t, json.Unmarshal(p.Comments, &comments))
		require.Len(t, comments.Items, 1)
		require.Equal(t, "hello", comments.Items[0].Text)
		var gifts bff.Gifts
		require.NoError(t, json.Unmarshal(p.Gifts, &gifts))
		require.Equal(t, gift.DefaultCatalog(), gifts.Items)
		var rank bff.Rank
		require.NoError(t, json.Unmarshal(p.Rank, &rank))
		require.NotNil(t, rank.AnchorScore, "the room has the gift_rank tag: its rank is read")
		var viewer bff.Viewer
		require.NoError(t, json.Unmarshal(p.Viewer, &viewer))
		if tok == "" {
			require.Equal(t, "null", string(p.Wallet), "a guest has no wallet")
			require.Equal(t, bff.Viewer{}, viewer)
		} else {
			var w bff.Wallet
			require.NoError(t, json.Unmarshal(p.Wallet, &w))
			require.EqualValues(t, 997, w.Balance)
			require.Equal(t, bff.Viewer{UID: fan.UID}, viewer)
		}
	}
	require.Equal(t, map[string]int{"Gifts": 2, "RankOf": 2, "Balance": 1}, e.gifts.Calls())
	require.Equal(t, map[string]int{"History": 2, "IsMuted": 1}, e.dm.Calls())

	// The owner sees the stream key; a muted fan sees that he is.
	_, err = e.a.Danmaku.Mute(context.Background(), id, anchor.UID, fan.UID)
	require.NoError(t, err)
	p := e.enter(id, anchor.Token)
	require.NotEmpty(t, p.Room.Live.StreamKey)
	var viewer bff.Viewer
	require.NoError(t, json.Unmarshal(p.Viewer, &viewer))
	require.Equal(t, bff.Viewer{UID: anchor.UID, Owner: true}, viewer)
	require.NoError(t, json.Unmarshal(e.enter(id, fan.Token).Viewer, &viewer))
	require.True(t, viewer.Muted)

	// Live: the page carries where the video plays, from the same read.
	_, err = e.a.Room.SetLive(context.Background(), anchor.UID, id, true)
	require.NoError(t, err)
	p = e.enter(id, fan.Token)
	require.Equal(t, &room.PlayURLs{FLV: fmt.Sprintf("/live/%d.flv", id), HLS: fmt.Sprintf("/hls/%d.m3u8", id)}, p.Playback)
}

// A room that never got a gift has no gift_rank tag: its rank costs no call.
func TestEnterSkipsTheRankOfARoomWithoutGifts(t *testing.T) {
	e := start(t, time.Second)
	anchor := e.user("anchor")
	id := e.room(anchor.UID, "quiet")
	p := e.enter(id, "")
	require.JSONEq(t, `{"items":[]}`, string(p.Rank))
	require.Zero(t, e.gifts.Calls()["RankOf"])
	require.EqualValues(t, 1, counter(t, e.reg, "zhibo_bff_module_skipped_total", map[string]string{"module": "rank", "reason": "tag"}))
}

// Switches set through the admin API: a switched-off module is {"off":true} and costs zero
// calls, the web client is told through "switches", and sends are refused.
func TestSwitchesThroughTheAdminAPI(t *testing.T) {
	e := start(t, time.Second)
	op, anchor, fan := e.user("operator"), e.user("anchor"), e.user("fan")
	id := e.room(anchor.UID, "switched")
	other := e.room(e.user("anchor2").UID, "other")
	_, err := e.a.Gift.Send(context.Background(), gift.SendRequest{RoomID: id, UID: fan.UID, GiftID: 1, Num: 1, Key: "k1"})
	require.NoError(t, err)

	roomSwitches := fmt.Sprintf("%s/api/admin/rooms/%d/switches", e.gw, id)
	require.Equal(t, 403, get(t, "PUT", roomSwitches, fan.Token, map[string]any{"off": []string{"gifts"}}, nil), "admins only")
	cfg := e.cfg
	cfg.Admins = []int64{op.UID}
	e.a.ReloadFrom(func() (config.Config, error) { return cfg, nil })
	_, err = e.a.Reload(context.Background(), "test")
	require.NoError(t, err)
	require.Equal(t, 400, get(t, "PUT", roomSwitches, op.Token, map[string]any{"off": []string{"nope"}}, nil))
	require.Equal(t, 404, get(t, "PUT", e.gw+"/api/admin/rooms/999999/switches", op.Token, map[string]any{"off": []string{}}, nil))
	var sv room.SwitchesView
	require.Equal(t, 200, get(t, "PUT", roomSwitches, op.Token, map[string]any{"off": []string{"rank", "gifts", "gifts"}}, &sv))
	require.Equal(t, []string{"gifts", "rank"}, sv.Off)

	calls := e.gifts.Calls()
	p := e.enter(id, fan.Token)
	require.Equal(t, map[string]bool{"comments": true, "gifts": false, "rank": false}, p.Switches)
	require.True(t, isOff(p.Gifts) && isOff(p.Wallet) && isOff(p.Rank), "gifts %s wallet %s rank %s", p.Gifts, p.Wallet, p.Rank)
	require.Equal(t, calls, e.gifts.Calls(), "no gift call for switched-off modules")
	_, err = e.a.Gift.Send(context.Background(), gift.SendRequest{RoomID: id, UID: fan.UID, GiftID: 1, Num: 1, Key: "k2"})
	require.ErrorIs(t, err, gift.ErrGiftsOff)
	// The other room is untouched.
	require.Equal(t, map[string]bool{"comments": true, "gifts": true, "rank": true}, e.enter(other, "").Switches)

	// Global: comments off everywhere.
	require.Equal(t, 200, get(t, "PUT", e.gw+"/api/admin/switches", op.Token, map[string]any{"off": []string{"comments"}}, &sv))
	dmCalls := e.dm.Calls()
	for _, rid := range []int64{id, other} {
		p = e.enter(rid, fan.Token)
		require.False(t, p.Switches["comments"])
		require.True(t, isOff(p.Comments))
		var viewer bff.Viewer
		require.NoError(t, json.Unmarshal(p.Viewer, &viewer))
		require.Equal(t, bff.Viewer{UID: fan.UID}, viewer)
	}
	require.Equal(t, dmCalls, e.dm.Calls(), "no danmaku call while comments are off")
	_, err = e.a.Danmaku.Send(context.Background(), other, fan.UID, "hi", 0, 0, 0)
	require.ErrorIs(t, err, danmaku.ErrCommentsOff)
	require.Equal(t, 200, get(t, "GET", roomSwitches, op.Token, nil, &sv))
	require.Equal(t, room.SwitchesView{Off: []string{"gifts", "rank"}, GlobalOff: []string{"comments"}}, sv)

	// Everything back on.
	require.Equal(t, 200, get(t, "PUT", e.gw+"/api/admin/switches", op.Token, map[string]any{"off": []string{}}, nil))
	require.Equal(t, 200, get(t, "PUT", roomSwitches, op.Token, map[string]any{"off": []string{}}, nil))
	p = e.enter(id, fan.Token)
	require.Equal(t, map[string]bool{"comments": true, "gifts": true, "rank": true}, p.Switches)
	require.False(t, isOff(p.Gifts) || isOff(p.Rank) || isOff(p.Comments))
	_, err = e.a.Danmaku.Send(context.Background(), other, fan.UID, "hi again", 0, 0, 0)
	require.NoError(t, err)
}

// A module whose upstream hangs (ignoring its context) is sent as degraded once the module
// timeout passes; the page answers within that timeout plus a small margin, the rest intact.
func TestEnterDegradesAHangingModule(t *testing.T) {
	const timeout = 150 * time.Millisecond
	e := start(t, timeout)
	anchor, fan := e.user("anchor"), e.user("fan")
	id := e.room(anchor.UID, "slow")
	_, err := e.a.Gift.Send(context.Background(), gift.SendRequest{RoomID: id, UID: fan.UID, GiftID: 1, Num: 1, Key: "k1"})
	require.NoError(t, err)
	e.enter(id, fan.Token) // warm

	e.gifts.Hang("RankOf")
	var took []time.Duration
	for range 20 {
		start := time.Now()
		p := e.enter(id, fan.Token)
		took = append(took, time.Since(start))
		require.True(t, isDegraded(p.Rank), "rank %s", p.Rank)
		for _, m := range []string{"danmu_info", "comments", "gifts", "wallet", "viewer"} {
			require.False(t, isDegraded(p.module(m)), "%s degraded", m)
		}
		require.Equal(t, "slow", p.Room.Base.Title)
	}
	slices.Sort(took)
	p99 := took[len(took)-1] // of 20: the slowest
	t.Logf("enter with a hanging module: median %v, slowest %v (module timeout %v)", took[len(took)/2], p99, timeout)
	require.GreaterOrEqual(t, took[0], timeout, "the page waits for the module until its timeout")
	require.LessOrEqual(t, p99, timeout+50*time.Millisecond, "the page does not wait for the hanging module past its timeout")
	require.EqualValues(t, 20, counter(t, e.reg, "zhibo_bff_module_degraded_total", map[string]string{"module": "rank"}))

	// Stop waits for the calls still hanging, as long as its context allows.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, e.svc.Stop(ctx), context.DeadlineExceeded)
	e.gifts.Release()
	require.NoError(t, e.svc.Stop(context.Background()))
	require.False(t, isDegraded(e.enter(id, fan.Token).Rank), "the module recovers with its upstream")
}

func TestEnterRefusesBadInput(t *testing.T) {
	e := start(t, time.Second)
	for q, status := range map[string]int{"": 400, "?id=": 400, "?id=abc": 400, "?id=-3": 400, "?id=0": 400,
		"?id=99999999999999999999": 400, "?id=424242": 404} {
		require.Equal(t, status, get(t, "GET", e.url+"/api/room/enter"+q, "", nil, nil), q)
	}
	require.Zero(t, e.gifts.Calls()["Gifts"], "no module runs without a room")
	require.Zero(t, e.dm.Calls()["History"])
}

// The home page is one call: the rooms, live first, with what their cards show.
func TestHome(t *testing.T) {
	e := start(t, time.Second)
	a1, a2 := e.user("anchor1"), e.user("anchor2")
	idle := e.room(a1.UID, "idle")
	live := e.room(a2.UID, "live")
	_, err := e.a.Room.SetLive(context.Background(), a2.UID, live, true)
	require.NoError(t, err)
	var home room.Page
	require.Equal(t, 200, get(t, "GET", e.url+"/api/home", "", nil, &home))
	require.Len(t, home.Rooms, 2)
	require.Equal(t, live, home.Rooms[0].ID, "live rooms first")
	require.Equal(t, idle, home.Rooms[1].ID)
	require.Equal(t, "live", home.Rooms[0].Live.Status)
	require.Equal(t, "anchor2", home.Rooms[0].Anchor.Name)
	require.NotNil(t, home.Rooms[0].Stats)
	require.Empty(t, home.Rooms[0].Live.StreamKey)
	require.EqualValues(t, 1, e.rooms.Calls()["List"])

	require.Equal(t, 200, get(t, "GET", e.url+"/api/home?limit=1", "", nil, &home))
	require.Len(t, home.Rooms, 1)
	require.NotEmpty(t, home.NextCursor)
	require.Equal(t, 200, get(t, "GET", e.url+"/api/home?limit=1&cursor="+home.NextCursor, "", nil, &home))
	require.Equal(t, idle, home.Rooms[0].ID)
	require.Equal(t, 400, get(t, "GET", e.url+"/api/home?limit=0", "", nil, nil))
	require.Equal(t, 400, get(t, "GET", e.url+"/api/home?cursor=bad!", "", nil, nil))
}

// The page carries the anchor's follow counts and whether the viewer follows them, so the
// follow button costs the client no call of its own.
func TestEnterCarriesTheAnchorsRelation(t *testing.T) {
	e := start(t, time.Second)
	anchor, fan, guest := e.user("anchorf"), e.user("fanf"), ""
	id := e.room(anchor.UID, "followed room")
	require.NoError(t, e.a.Account.Follow(context.Background(), fan.UID, anchor.UID))
	for _, c := range []struct {
		tok      string
		followed bool
	}{{fan.Token, true}, {anchor.Token, false}, {guest, false}} {
		var p page
		require.Equal(t, 200, get(t, "GET", fmt.Sprintf("%s/api/room/enter?id=%d", e.url, id), c.tok, nil, &p))
		var rel account.Relation
		require.NoError(t, json.Unmarshal(p.Anchor, &rel), "%s", p.Anchor)
		require.Equal(t, anchor.UID, rel.UID)
		require.EqualValues(t, 1, rel.Followers)
		require.Equal(t, c.followed, rel.Followed)
	}
}
