package notice_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/im/imtest"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/internal/room/roomtest"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

const admin int64 = 1

type harness struct {
	t      *testing.T
	srv    *httptest.Server
	pushes *pushtest.Recorder
	q      *queue.Queue
	rooms  *roomtest.Rooms
}

func newHarness(t *testing.T, db *sqlstore.DB, tune func(*notice.Config)) *harness {
	cfg := notice.DefaultConfig()
	if tune != nil {
		tune(&cfg)
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := imtest.Queue(t, "imnt", log)
	gen, err := ids.New(3)
	require.NoError(t, err)
	h := &harness{t: t, pushes: &pushtest.Recorder{}, q: q, rooms: roomtest.New()}
	users := accounttest.New(map[int64]string{admin: "admin"})
	users.Add(2, 3, 4, 5)
	svc, err := notice.New(cfg, notice.Deps{Logger: log, Registry: prometheus.NewRegistry(), DB: db, IDs: gen, Queue: q,
		Pusher: h.pushes, IsAdmin: func(uid int64) bool { return uid == admin }, Accounts: users, Rooms: h.rooms})
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

func (h *harness) batch(id int64) notice.Batch {
	var b notice.Batch
	require.Equal(h.t, 200, h.call(admin, "GET", fmt.Sprintf("/api/admin/notices/%d", id), nil, &b))
	return b
}

// pushedUsers counts the users IM_NOTICE pushes of notice id went to.
func (h *harness) pushedUsers(id int64) int {
	n := 0
	for _, p := range h.pushes.All() {
		if p.Target != push.TargetUser {
			continue
		}
		var ev struct {
			Cmd  string
			Data struct{ ID int64 }
		}
		if json.Unmarshal(p.Msgs[0], &ev) == nil && ev.Cmd == "IM_NOTICE" && ev.Data.ID == id {
			n += len(p.UIDs)
		}
	}
	return n
}

// A notice to a list of users lands once in each inbox with an unread count, chunk by chunk,
// and is pushed to them; reading it clears the count.
func TestBatchToListedUsers(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *notice.Config) { c.Chunk = 100 })
		uids := []int64{2, 3, 4}
		for u := int64(1000); u < 1250; u++ {
			uids = append(uids, u)
		}
		uids = append(uids, 2, 3) // listed twice: one notice each
		var b notice.Batch
		require.Equal(t, 200, h.call(admin, "POST", "/api/admin/notices", map[string]any{"business": "ops", "title": "Maintenance",
			"body": "Tonight at 2:00", "to": map[string]any{"uids": uids}}, &b))
		require.EqualValues(t, 253, b.Total)
		require.Eventually(t, func() bool { return h.batch(b.ID).Finished }, 10*time.Second, 10*time.Millisecond)
		require.EqualValues(t, 253, h.batch(b.ID).Done)
		require.Equal(t, 253, h.pushedUsers(b.ID))

		var unread map[string]int64
		require.Equal(t, 200, h.call(3, "GET", "/api/im/notices/unread", nil, &unread))
		require.Equal(t, map[string]int64{"system": 1, "mention": 0, "like": 0, "follow": 0, "reply": 0}, unread)
		var inbox struct{ Items []notice.Item }
		require.Equal(t, 200, h.call(3, "GET", "/api/im/notices?kind=system", nil, &inbox))
		require.Len(t, inbox.Items, 1)
		require.Equal(t, "Maintenance", inbox.Items[0].Title)
		require.False(t, inbox.Items[0].Read)
		require.Equal(t, 200, h.call(3, "POST", "/api/im/notices/read", map[string]any{"read_id": b.ID}, nil))
		require.Equal(t, 200, h.call(3, "GET", "/api/im/notices/unread", nil, &unread))
		require.Zero(t, unread["system"])
		require.Equal(t, 200, h.call(3, "GET", "/api/im/notices", nil, &inbox))
		require.True(t, inbox.Items[0].Read)
		require.Equal(t, 200, h.call(5, "GET", "/api/im/notices/unread", nil, &unread))
		require.Zero(t, unread["system"], "5 was not a recipient")
	})
}

// A high-priority notice is delivered while a big normal batch is still running under its
// business's quota.
func TestHighLaneIsNotBehindABigBatch(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *notice.Config) { c.Chunk, c.NormalRate = 100, 500 })
	var big, urgent notice.Batch
	require.Equal(t, 200, h.call(admin, "POST", "/api/admin/notices", map[string]any{"business": "promo", "title": "Sale",
		"body": "Everything half price", "to": map[string]any{"from": 10000, "to": 109999}}, &big))
	require.Eventually(t, func() bool { return h.batch(big.ID).Done > 0 }, 10*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.Equal(t, 200, h.call(admin, "POST", "/api/admin/notices", map[string]any{"business": "ops", "title": "Outage",
		"body": "Payments are down", "priority": "high", "to": map[string]any{"uids": []int64{2, 3}}}, &urgent))
	require.Eventually(t, func() bool { return h.batch(urgent.ID).Finished }, 5*time.Second, 5*time.Millisecond)
	t.Logf("high-priority notice delivered in %s while the normal batch had %d of %d", time.Since(start), h.batch(big.ID).Done, big.Total)
	b := h.batch(big.ID)
	require.False(t, b.Finished, "the big batch is still running")
	require.Less(t, b.Done, b.Total)
}

func TestRefusedSends(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	good := map[string]any{"business": "ops", "title": "t", "body": "b", "to": map[string]any{"uids": []int64{2}}}
	require.Equal(t, 403, h.call(2, "POST", "/api/admin/notices", good, nil), "admins only")
	require.Equal(t, 401, h.call(0, "POST", "/api/admin/notices", good, nil))
	for name, body := range map[string]map[string]any{
		"bad business":  {"business": "Ops!", "title": "t", "body": "b", "to": map[string]any{"uids": []int64{2}}},
		"empty title":   {"business": "ops", "title": " ", "body": "b", "to": map[string]any{"uids": []int64{2}}},
		"no body":       {"business": "ops", "title": "t", "to": map[string]any{"uids": []int64{2}}},
		"both":          {"business": "ops", "title": "t", "body": "b", "to": map[string]any{"uids": []int64{2}, "from": 1, "to": 5}},
		"nobody":        {"business": "ops", "title": "t", "body": "b", "to": map[string]any{}},
		"huge range":    {"business": "ops", "title": "t", "body": "b", "to": map[string]any{"from": 1, "to": 20_000_000}},
		"bad uid":       {"business": "ops", "title": "t", "body": "b", "to": map[string]any{"uids": []int64{0}}},
		"bad priority":  {"business": "ops", "title": "t", "body": "b", "priority": "urgent", "to": map[string]any{"uids": []int64{2}}},
		"unknown field": {"business": "ops", "title": "t", "body": "b", "to": map[string]any{"uids": []int64{2}}, "x": 1},
	} {
		require.Equal(t, 400, h.call(admin, "POST", "/api/admin/notices", body, nil), name)
	}
	require.Equal(t, 404, h.call(admin, "GET", "/api/admin/notices/42", nil, nil))
	require.Equal(t, 400, h.call(2, "GET", "/api/im/notices?kind=other", nil, nil))
}
