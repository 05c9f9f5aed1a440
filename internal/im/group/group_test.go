package group_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/imtest"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

const (
	owner int64 = 301
	ann   int64 = 302
	ben   int64 = 303
	out   int64 = 304 // never a member
)

type harness struct {
	t      *testing.T
	pushes *pushtest.Recorder
	srv    *httptest.Server
	clock  *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newHarness(t *testing.T, db *sqlstore.DB, tune func(*group.Config)) *harness {
	return newHarnessOn(t, db, tune, nil)
}

// newHarnessOn is newHarness with the hot tier on shared (nil = none).
func newHarnessOn(t *testing.T, db *sqlstore.DB, tune func(*group.Config), shared *cache.Redis) *harness {
	cfg := group.DefaultConfig()
	cfg.Rate, cfg.Burst, cfg.QueueBytes = 0, 0, 16<<20
	if tune != nil {
		tune(&cfg)
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := imtest.Queue(t, "imgt", log)
	gen, err := ids.New(2)
	require.NoError(t, err)
	users := accounttest.New(map[int64]string{owner: "owner", ann: "ann", ben: "ben", out: "out"})
	h := &harness{t: t, pushes: &pushtest.Recorder{}, clock: &clock{now: time.Now()}}
	svc, err := group.New(cfg, group.Deps{Logger: log, Registry: prometheus.NewRegistry(), DB: db, IDs: gen, Queue: q,
		Accounts: users, Pusher: h.pushes, Words: textnorm.NewWords([]string{"spam"}), Now: h.clock.Now, Shared: shared})
	require.NoError(t, err)
	require.NoError(t, svc.Start(ctx))
	t.Cleanup(func() { _ = svc.Stop(ctx) })
	mux := http.NewServeMux()
	svc.Register(mux)
	h.srv = httptest.NewServer(httpx.Identify(users, nil, mux))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) call(uid int64, method, path string, body any, out any) int {
	h.t.Helper()
	code, _, _ := imtest.API{T: h.t, URL: h.srv.URL}.Call(uid, method, path, body, out)
	return code
}

func (h *harness) send(uid, gid int64, text, cid string) group.Message {
	h.t.Helper()
	var m group.Message
	require.Equal(h.t, 200, h.call(uid, "POST", fmt.Sprintf("/api/im/groups/%d/messages", gid), map[string]string{"text": text, "client_id": cid}, &m))
	return m
}

func (h *harness) history(uid, gid int64) []group.Message {
	return h.historyPage(uid, gid, "").Items
}

func (h *harness) historyPage(uid, gid int64, query string) group.History {
	var v group.History
	require.Equal(h.t, 200, h.call(uid, "GET", fmt.Sprintf("/api/im/groups/%d/messages%s", gid, query), nil, &v))
	return v
}

func (h *harness) groups(uid int64, q string) group.GroupPage {
	var p group.GroupPage
	require.Equal(h.t, 200, h.call(uid, "GET", "/api/im/groups"+q, nil, &p))
	return p
}

// pushedTo returns the users each IM_GROUP_MSG went to, by message id.
func (h *harness) pushedTo(cmd string) map[int64][]int64 {
	out := map[int64][]int64{}
	for _, p := range h.pushes.All() {
		if p.Target != push.TargetUser {
			continue
		}
		for _, raw := range p.Msgs {
			var ev struct {
				Cmd  string
				Data struct{ ID int64 }
			}
			if json.Unmarshal(raw, &ev) == nil && ev.Cmd == cmd {
				out[ev.Data.ID] = append(out[ev.Data.ID], p.UIDs...)
			}
		}
	}
	return out
}

// A group's message is stored once in its timeline and pushed to every member; a member's
// unread count follows from its read position; a new member sees what came after joining.
func TestGroupChat(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		var g group.Group
		require.Equal(t, 200, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": " friends ", "members": []int64{ann, ann}}, &g))
		require.Equal(t, "friends", g.Name)
		require.Equal(t, 2, g.Members)

		m1 := h.send(owner, g.ID, "hello all", "c1")
		m2 := h.send(ann, g.ID, "hi", "")
		again := h.send(owner, g.ID, "hello all", "c1")
		require.Equal(t, m1.ID, again.ID, "a replayed client id is one message")
		require.Eventually(t, func() bool { return len(h.history(ann, g.ID)) == 2 }, 10*time.Second, 5*time.Millisecond)
		require.Eventually(t, func() bool { return len(h.pushedTo("IM_GROUP_MSG")) == 2 }, 10*time.Second, 5*time.Millisecond)
		for _, id := range []int64{m1.ID, m2.ID} {
			require.ElementsMatch(t, []int64{owner, ann}, h.pushedTo("IM_GROUP_MSG")[id])
		}

		p := h.groups(ann, "")
		require.Len(t, p.Items, 1)
		require.Equal(t, 1, p.Items[0].Unread, "ann's own message is not unread for her")
		require.Equal(t, m2.ID, p.Items[0].Last.ID)
		var mb group.Member
		require.Equal(t, 200, h.call(ann, "POST", fmt.Sprintf("/api/im/groups/%d/read", g.ID), map[string]int64{"read_id": m2.ID}, &mb))
		require.Equal(t, m2.ID, mb.ReadID)
		require.Zero(t, h.groups(ann, "").Items[0].Unread)

		// Outsiders: no sending, no reading; unknown groups are 404.
		require.Equal(t, 403, h.call(out, "POST", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), map[string]string{"text": "x"}, nil))
		require.Equal(t, 403, h.call(out, "GET", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), nil, nil))
		require.Equal(t, 404, h.call(owner, "POST", "/api/im/groups/12345/messages", map[string]string{"text": "x"}, nil))
		// The same with a client id (the membership and the replay check in one read).
		require.Equal(t, 403, h.call(out, "POST", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), map[string]string{"text": "x", "client_id": "out-1"}, nil))
		require.Equal(t, 404, h.call(owner, "POST", "/api/im/groups/12345/messages", map[string]string{"text": "x", "client_id": "own-404"}, nil))
		require.Equal(t, 400, h.call(owner, "POST", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), map[string]string{"text": " "}, nil))
		require.Equal(t, 400, h.call(owner, "POST", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), map[string]string{"text": "spam"}, nil))

		// Ben joins: he sees what is sent after, not before.
		require.Equal(t, 403, h.call(ann, "POST", fmt.Sprintf("/api/im/groups/%d/members", g.ID), map[string][]int64{"uids": {ben}}, nil), "owner only")
		require.Equal(t, 404, h.call(owner, "POST", fmt.Sprintf("/api/im/groups/%d/members", g.ID), map[string][]int64{"uids": {999}}, nil))
		require.Equal(t, 200, h.call(owner, "POST", fmt.Sprintf("/api/im/groups/%d/members", g.ID), map[string][]int64{"uids": {ben}}, nil))
		require.Empty(t, h.history(ben, g.ID))
		h.clock.Advance(time.Millisecond)
		m3 := h.send(ben, g.ID, "new here", "")
		require.Eventually(t, func() bool { return len(h.history(ben, g.ID)) == 1 }, 10*time.Second, 5*time.Millisecond)
		require.Eventually(t, func() bool { return len(h.pushedTo("IM_GROUP_MSG")[m3.ID]) == 3 }, 10*time.Second, 5*time.Millisecond)

		// Recall by the sender only; leaving; the owner cannot leave.
		require.Equal(t, 404, h.call(ann, "POST", fmt.Sprintf("/api/im/group-messages/%d/recall", m3.ID), nil, nil))
		require.Equal(t, 200, h.call(ben, "POST", fmt.Sprintf("/api/im/group-messages/%d/recall", m3.ID), nil, nil))
		require.True(t, h.history(ann, g.ID)[0].Recalled)
		require.Equal(t, 409, h.call(owner, "DELETE", fmt.Sprintf("/api/im/groups/%d/members/%d", g.ID, owner), nil, nil))
		require.Equal(t, 403, h.call(ann, "DELETE", fmt.Sprintf("/api/im/groups/%d/members/%d", g.ID, ben), nil, nil))
		require.Equal(t, 200, h.call(ben, "DELETE", fmt.Sprintf("/api/im/groups/%d/members/%d", g.ID, ben), nil, nil))
		require.Equal(t, 403, h.call(ben, "POST", fmt.Sprintf("/api/im/groups/%d/messages", g.ID), map[string]string{"text": "x"}, nil))
		var members struct{ Items []group.Member }
		require.Equal(t, 200, h.call(owner, "GET", fmt.Sprintf("/api/im/groups/%d/members", g.ID), nil, &members))
		require.Len(t, members.Items, 2)
	})
}

func TestGroupLimits(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *group.Config) { c.MaxMembers = 3 })
	var g group.Group
	require.Equal(t, 409, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": "big", "members": []int64{ann, ben, out}}, nil))
	require.Equal(t, 400, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": ""}, nil))
	require.Equal(t, 200, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": "small", "members": []int64{ann, ben}}, &g))
	require.Equal(t, 409, h.call(owner, "POST", fmt.Sprintf("/api/im/groups/%d/members", g.ID), map[string][]int64{"uids": {out}}, nil))
	var p group.GroupPage
	for range 3 {
		require.Equal(t, 200, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": "more"}, nil))
		h.clock.Advance(time.Millisecond)
	}
	p = h.groups(owner, "?limit=2")
	require.Len(t, p.Items, 2)
	seen := map[int64]bool{}
	for {
		for _, it := range p.Items {
			require.False(t, seen[it.ID])
			seen[it.ID] = true
		}
		if p.Next == "" {
			break
		}
		p = h.groups(owner, "?limit=2&cursor="+p.Next)
	}
	require.Len(t, seen, 4)
}
