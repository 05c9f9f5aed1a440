package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// metric is the value of a counter or gauge of a's registry with the given labels.
func metric(t *testing.T, a *App, name string, labels map[string]string) float64 {
	mfs, err := a.Reg.Gather()
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
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not found", name)
	return 0
}

func call(t *testing.T, method, url, tok, body string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// A room pinned through the admin API of one process is hot in another: a BFF process on the
// same queue loads its page at once and serves enters from memory — the room process counts
// no read for them — until the pin ends. A key pinned the same way reaches the rank cache.
func TestPinThroughOneProcessWarmsAnother(t *testing.T) {
	natsURL := queuetest.URL(t)
	ns := queuetest.Namespace(t, natsURL, "hot")
	hourly := func(c *config.Config) {
		c.Queue.URL, c.Queue.Namespace = natsURL, ns
		c.BFF.HotRefresh = time.Hour // loads happen on a pin, not on a timer, within the test
		c.Peers.CacheTTL = 0
		c.Gateway.RatePerIP = 0
	}
	a, baseA := startAll(t, filepath.Join(t.TempDir(), "a"), func(c *config.Config) {
		hourly(c)
		c.GRPCAddr = "127.0.0.1:0"
	})
	ctx := context.Background()
	op, err := a.Account.SignUp(ctx, "operator", "password1")
	require.NoError(t, err)
	a.reload.admins.Store(&[]int64{op.UID})
	rm, err := a.Room.Create(ctx, op.UID, room.Fields{Title: ptr("final")})
	require.NoError(t, err)

	cfg := config.Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "b")
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	hourly(&cfg)
	grpcA := a.GRPCAddr().String()
	cfg.Peers.Account, cfg.Peers.Room, cfg.Peers.Gift, cfg.Peers.Danmaku = grpcA, grpcA, grpcA, grpcA
	b, err := New(cfg, []string{"bff", "gateway"}, obs.Discard())
	require.NoError(t, err)
	require.NoError(t, b.Start(ctx))
	t.Cleanup(func() { require.NoError(t, b.Stop(context.Background())) })
	require.Nil(t, b.Room, "process B runs no room component")
	enterB := fmt.Sprintf("http://%s/api/room/enter?id=%d", b.HTTPAddr(), rm.ID)
	reads := func() float64 { return metric(t, a, "zhibo_room_reads_total", nil) }

	r0 := reads()
	code, body := call(t, "GET", enterB, "", "")
	require.Equal(t, 200, code, body)
	require.Greater(t, reads(), r0, "not hot: B's enter reads the room in A")

	// Pinned for an hour, so a busy machine cannot end the pin under the enters counted below;
	// the pin is shortened (replaced) to see it end further down.
	pinRoom := func(d string) {
		code, body := call(t, "POST", fmt.Sprintf("%s/api/admin/hot/rooms/%d", baseA, rm.ID), op.Token, `{"for":"`+d+`","reason":"final"}`)
		require.Equal(t, 200, code, body)
	}
	pinRoom("1h")
	require.Eventually(t, func() bool { return metric(t, b, "zhibo_bff_hot_rooms", nil) == 1 }, 10*time.Second, 10*time.Millisecond,
		"B pre-warmed the pinned room's page")
	// A runs a BFF too and pre-warms the same page: wait for its read so it is not counted below.
	require.Eventually(t, func() bool { return metric(t, a, "zhibo_bff_hot_rooms", nil) == 1 }, 10*time.Second, 10*time.Millisecond,
		"A pre-warmed the pinned room's page")
	require.True(t, b.hot.tracker.IsHot(rm.ID, 1<<40))

	r0, served := reads(), metric(t, b, "zhibo_bff_hot_served_total", map[string]string{"module": "room"})
	for range 5 {
		code, body := call(t, "GET", enterB, "", "")
		require.Equal(t, 200, code, body)
		require.Contains(t, body, `"title":"final"`)
	}
	require.Equal(t, r0, reads(), "five enters on B, no room read in A")
	require.Equal(t, served+5, metric(t, b, "zhibo_bff_hot_served_total", map[string]string{"module": "room"}))

	// A key pin made through A reaches the gift rank detector of every process running gift.
	code, body = call(t, "POST", baseA+"/api/admin/hot/keys/gift_rank:"+fmt.Sprint(rm.ID), op.Token, `{"for":"1h"}`)
	require.Equal(t, 200, code, body)
	require.Eventually(t, func() bool { return a.Gift.RankKeys().IsHot(fmt.Sprint(rm.ID)) }, 10*time.Second, 10*time.Millisecond)
	code, body = call(t, "GET", baseA+"/api/admin/hot", op.Token, "")
	require.Equal(t, 200, code, body)
	var hv struct{ Data room.HotView }
	require.NoError(t, json.Unmarshal([]byte(body), &hv))
	require.Len(t, hv.Data.PinnedKeys, 1)
	require.Equal(t, "gift_rank:"+fmt.Sprint(rm.ID), hv.Data.PinnedKeys[0].Key)
	code, _ = call(t, "POST", baseA+"/api/admin/hot/keys/elsewhere:1", op.Token, `{"for":"1h"}`)
	require.Equal(t, 400, code, "a key must name a cache")

	// A pin replaced by a shorter one ends at its new until, in B too: enters read the room
	// again. (A's own reads are not B's, so the pin's end is asserted first.)
	pinRoom("1s")
	require.Eventually(t, func() bool { return !b.hot.tracker.IsHot(rm.ID, 1<<40) }, 15*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		r := reads()
		code, _ := call(t, "GET", enterB, "", "")
		return code == 200 && reads() > r
	}, 15*time.Second, 100*time.Millisecond)
}

// In one process, writes its components take show on a hot room's page kept in memory at
// once: a comment is added to it without a read, a room write and a rank change reload it.
func TestWritesShowOnAHotPageAtOnce(t *testing.T) {
	a, base := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.BFF.HotRefresh = time.Hour // nothing reloads the page but the writes
		c.Gateway.RatePerIP = 0
		c.Gift.InitialBalance = 100
		c.Gift.AggregateWindow = 20 * time.Millisecond
	})
	ctx := context.Background()
	owner, err := a.Account.SignUp(ctx, "hot_owner", "password1")
	require.NoError(t, err)
	fan, err := a.Account.SignUp(ctx, "hot_fan", "password1")
	require.NoError(t, err)
	rm, err := a.Room.Create(ctx, owner.UID, room.Fields{Title: ptr("before")})
	require.NoError(t, err)
	enter := func() string {
		code, body := call(t, "GET", fmt.Sprintf("%s/api/room/enter?id=%d", base, rm.ID), "", "")
		require.Equal(t, 200, code, body)
		return body
	}
	reads := func() float64 { return metric(t, a, "zhibo_room_reads_total", nil) }
	history := func() float64 {
		return metric(t, a, "zhibo_danmaku_history_reads_total", map[string]string{"source": "store"}) +
			metric(t, a, "zhibo_danmaku_history_reads_total", map[string]string{"source": "memory"})
	}

	require.NoError(t, a.hot.table.PinRoom(ctx, rm.ID, time.Now().Add(time.Hour), "test"))
	require.Eventually(t, func() bool { return metric(t, a, "zhibo_bff_hot_rooms", nil) == 1 }, 10*time.Second, 10*time.Millisecond)
	r0, h0 := reads(), history()
	enter()
	require.Equal(t, r0, reads(), "from memory")

	_, err = a.Danmaku.Send(ctx, rm.ID, fan.UID, "fresh comment", 0, 0, 0) // reads the room itself
	require.NoError(t, err)
	r0 = reads()
	require.Contains(t, enter(), "fresh comment", "added to the page at once")
	require.Equal(t, r0, reads(), "without reading the room")
	require.Equal(t, h0, history(), "nor the history")

	_, err = a.Room.Update(ctx, owner.UID, rm.ID, room.Fields{Title: ptr("after")})
	require.NoError(t, err)
	require.Contains(t, enter(), `"title":"after"`, "a room write drops the page: the next enter reads it")
	require.Eventually(t, func() bool {
		r := reads()
		return strings.Contains(enter(), `"title":"after"`) && reads() == r
	}, 10*time.Second, 10*time.Millisecond, "and the page is loaded again")

	// The first gift tags the room (a room write); the second changes only the rank.
	_, err = a.Gift.Send(ctx, gift.SendRequest{RoomID: rm.ID, UID: fan.UID, GiftID: 1, Num: 1, Key: "hot-1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(enter(), `"uname":"hot_fan"`) }, 10*time.Second, 10*time.Millisecond)
	fan2, err := a.Account.SignUp(ctx, "hot_fan_two", "password1")
	require.NoError(t, err)
	_, err = a.Gift.Send(ctx, gift.SendRequest{RoomID: rm.ID, UID: fan2.UID, GiftID: 1, Num: 1, Key: "hot-2"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(enter(), `"uname":"hot_fan_two"`) }, 10*time.Second, 10*time.Millisecond,
		"the flush that counted the gift reloads the page's rank")
}

// A room pinned by room.hot_rooms stays pinned when a pin of the shared table on it ends.
func TestSharedUnpinLeavesAConfigPin(t *testing.T) {
	a, _ := startAll(t, filepath.Join(t.TempDir(), "data"), nil)
	ctx := context.Background()
	room.ConfigPins(a.hot.tracker, []int64{7})
	require.NoError(t, a.hot.table.PinRoom(ctx, 8, time.Now().Add(time.Hour), "by hand"))
	require.NoError(t, a.hot.table.PinRoom(ctx, 7, time.Now().Add(time.Hour), "by hand"))
	require.Eventually(t, func() bool {
		p, ok := a.hot.tracker.Pinned(7)
		return ok && p.Reason == "by hand" && a.hot.tracker.IsHot(8, 0)
	}, 10*time.Second, 10*time.Millisecond)
	room.ConfigPins(a.hot.tracker, []int64{7}) // the config is applied again (a reload)
	require.NoError(t, a.hot.table.UnpinRoom(ctx, 7))
	require.NoError(t, a.hot.table.UnpinRoom(ctx, 8))
	require.Eventually(t, func() bool { return !a.hot.tracker.IsHot(8, 0) }, 10*time.Second, 10*time.Millisecond)
	require.True(t, a.hot.tracker.IsHot(7, 0), "the config's pin stays")
}
