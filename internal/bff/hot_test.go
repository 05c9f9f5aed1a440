package bff_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/bff"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// hotEnv is env with a BFF that keeps hot rooms' pages in memory, judged by its own tracker,
// refreshed only when told (Warm) within the test: the refresh period is an hour.
func hotEnv(t *testing.T, threshold int64) (*env, *hotroom.Tracker) {
	e := start(t, time.Second)
	tr := hotroom.New(nil)
	e.reg = prometheus.NewRegistry() // the hot BFF's, not start's
	cfg := e.cfg.BFF
	cfg.HotThreshold, cfg.HotRefresh, cfg.HotMaxRooms = threshold, time.Hour, 10
	// Generous module timeouts: a module whose load times out under a busy machine is left out
	// of the page kept, and the test's count of component reads would see it fetched.
	cfg.ModuleTimeout, cfg.RoomTimeout = 10*time.Second, 10*time.Second
	svc, err := bff.New(cfg, bff.Deps{Logger: obs.Discard(), Registry: e.reg, Rooms: e.rooms, Gifts: e.gifts,
		Danmaku: e.dm, DanmuInfo: e.a.LogicAPI.DanmuInfoFor, Accounts: e.acc, Hot: tr})
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, svc.Stop(context.Background())) })
	e.svc = svc
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(httpx.Identify(e.a.Account, nil, mux))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e, tr
}

// downstream is what the page's components were asked: room reads in the room component,
// and the history, catalog and rank calls the BFF made.
func (e *env) downstream() [4]float64 {
	g, d := e.gifts.Calls(), e.dm.Calls()
	return [4]float64{e.roomReads(), float64(d["History"]), float64(g["Gifts"]), float64(g["RankOf"])}
}

// served counts the enters whose room record, comments, gift catalog and rank came from the
// page kept in memory (zhibo_bff_hot_served_total). A page load running in the background (a
// refresh kicked while another ran) reads the components too: the tests count what the enters
// took from memory, which such a load does not change.
func (e *env) served() [4]float64 {
	var out [4]float64
	for i, m := range []string{"room", "comments", "gifts", "rank"} {
		out[i] = counter(e.t, e.reg, "zhibo_bff_hot_served_total", map[string]string{"module": m})
	}
	return out
}

func (e *env) hotRooms() float64 {
	mfs, err := e.reg.Gather()
	require.NoError(e.t, err)
	for _, mf := range mfs {
		if mf.GetName() == "zhibo_bff_hot_rooms" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// A room whose audience reaches the BFF's threshold is loaded into memory, and enters within
// the refresh period cost its components nothing for the room, comments, catalog and rank;
// the viewer's own modules are still fetched, and the owner still gets their stream key.
func TestHotRoomByAudienceIsServedFromMemory(t *testing.T) {
	e, tr := hotEnv(t, 5000)
	anchor, fan := e.user("anchor"), e.user("fan")
	id := e.room(anchor.UID, "hot")
	_, err := e.a.Gift.Send(context.Background(), gift.SendRequest{RoomID: id, UID: fan.UID, GiftID: 1, Num: 2, Key: "h1"})
	require.NoError(t, err)
	_, err = e.a.Danmaku.Send(context.Background(), id, fan.UID, "first", 0, 0, 0)
	require.NoError(t, err)

	tr.Update(map[int64]int64{id: 4999})
	e.svc.Warm()
	before := e.downstream()
	e.enter(id, "")
	require.NotEqual(t, before, e.downstream(), "below the threshold: every enter reads its components")

	tr.Update(map[int64]int64{id: 5000})
	e.svc.Warm()
	require.Eventually(t, func() bool { return e.hotRooms() == 1 }, 5*time.Second, 5*time.Millisecond, "pre-warmed")
	for range 5 {
		p := e.enter(id, "")
		require.Contains(t, string(p.Comments), "first")
		require.Contains(t, string(p.Rank), `"anchor_score":`)
	}
	walletBefore := e.gifts.Calls()["Balance"]
	p := e.enter(id, fan.Token)
	require.Equal(t, [4]float64{6, 6, 6, 6}, e.served(), "room, history, catalog and rank from memory for 6 enters")
	require.Equal(t, walletBefore+1, e.gifts.Calls()["Balance"], "the viewer's balance is the viewer's: fetched")
	require.Contains(t, string(p.Wallet), `"balance":`)

	// A comment posted meanwhile shows at the next refresh: the staleness bound.
	_, err = e.a.Danmaku.Send(context.Background(), id, fan.UID, "second", 0, 0, 0)
	require.NoError(t, err)
	require.NotContains(t, string(e.enter(id, "").Comments), "second")
	e.svc.Warm()
	require.Eventually(t, func() bool { return strings.Contains(string(e.enter(id, "").Comments), "second") }, 5*time.Second, 5*time.Millisecond)

	own := e.enter(id, anchor.Token)
	require.NotEmpty(t, own.Room.Live.StreamKey, "the owner's view is read for them")

	tr.Update(map[int64]int64{id: 10})
	before = e.downstream()
	e.enter(id, "")
	require.NotEqual(t, before, e.downstream(), "cooled off: read again at once, before the next refresh")
}

// A hot room's anchor counts are kept with its page: a guest's enter asks accounts nothing, and
// a signed-in viewer's asks only for their own follow edges (one Follows call), never the
// anchor's whole relation (three reads in accounts).
func TestHotRoomKeepsTheAnchorsCounts(t *testing.T) {
	e, tr := hotEnv(t, 5000)
	ctx := context.Background()
	anchor, fan, other := e.user("anchorc"), e.user("fanc"), e.user("otherc")
	id := e.room(anchor.UID, "hot anchor")
	require.NoError(t, e.a.Account.Follow(ctx, fan.UID, anchor.UID))
	tr.Update(map[int64]int64{id: 5000})
	e.svc.Warm()
	require.Eventually(t, func() bool { return e.hotRooms() == 1 }, 5*time.Second, 5*time.Millisecond, "pre-warmed")

	rel := func(p page) account.Relation {
		var r account.Relation
		require.NoError(t, json.Unmarshal(p.Anchor, &r), "%s", p.Anchor)
		require.Equal(t, anchor.UID, r.UID)
		require.EqualValues(t, 1, r.Followers)
		return r
	}
	anchorServed := func() float64 {
		return counter(t, e.reg, "zhibo_bff_hot_served_total", map[string]string{"module": "anchor"})
	}
	follows := e.acc.Calls()["Follows"]
	require.False(t, rel(e.enter(id, "")).Followed)
	require.Equal(t, follows, e.acc.Calls()["Follows"], "a guest's enter asks accounts nothing")
	require.True(t, rel(e.enter(id, fan.Token)).Followed)
	require.False(t, rel(e.enter(id, other.Token)).Followed)
	require.Equal(t, follows+2, e.acc.Calls()["Follows"], "one call for each signed-in viewer's edges")
	require.EqualValues(t, 3, anchorServed())

	// The viewer's edges are never kept: the anchor following back shows at once.
	require.NoError(t, e.a.Account.Follow(ctx, anchor.UID, fan.UID))
	require.True(t, rel(e.enter(id, fan.Token)).FollowsYou)
	require.Equal(t, follows+3, e.acc.Calls()["Follows"])

	// Cooled off: the relation is read whole for each enter again.
	tr.Update(map[int64]int64{id: 10})
	r := rel(e.enter(id, fan.Token))
	require.True(t, r.Followed)
	require.True(t, r.FollowsYou)
	require.EqualValues(t, 4, anchorServed(), "not from memory once the room cooled off")
	require.Equal(t, follows+3, e.acc.Calls()["Follows"])
}

// A pinned room is served from memory whatever its audience, until the pin ends.
func TestPinnedRoomIsServedFromMemoryUntilItsPinEnds(t *testing.T) {
	e, tr := hotEnv(t, 0)
	anchor := e.user("anchor")
	id := e.room(anchor.UID, "pinned")
	tr.PinRoom(id, time.Now().Add(1500*time.Millisecond), "final")
	e.svc.Warm()
	require.Eventually(t, func() bool { return e.hotRooms() == 1 }, 5*time.Second, 5*time.Millisecond)
	for range 3 {
		e.enter(id, "")
	}
	require.Equal(t, [4]float64{3, 3, 3, 0}, e.served(), "room, history and catalog from memory (no rank: no gift yet)")
	require.Eventually(t, func() bool {
		b := e.downstream()
		e.enter(id, "")
		return b != e.downstream()
	}, 5*time.Second, 50*time.Millisecond, "the pin ended: enters read the components again")
}
