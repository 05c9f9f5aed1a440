package danmaku_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// The fixture: room 1 belongs to the anchor, room 2 to alice.
const (
	anchor int64 = 100
	alice  int64 = 201
	bob    int64 = 202
	carol  int64 = 203
	room1  int64 = 1
	room2  int64 = 2
)

var errPeerDown = errors.New("connection refused")

type fakeRooms struct {
	mu    sync.Mutex
	rooms map[int64]room.Room
	err   error
}

func (f *fakeRooms) Get(_ context.Context, id int64) (room.Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return room.Room{}, f.err
	}
	r, ok := f.rooms[id]
	if !ok {
		return room.Room{}, apierr.NotFound.Withf("room %d not found", id)
	}
	return r, nil
}

func (f *fakeRooms) SetTag(context.Context, int64, string, bool) error { return nil }
func (f *fakeRooms) StreamRoom(context.Context, string) (int64, error) {
	return 0, room.ErrBadStreamKey
}
func (f *fakeRooms) SetStreamLive(context.Context, int64, bool) error      { return nil }
func (f *fakeRooms) ConfirmStreams(context.Context, string, []int64) error { return nil }

// fakeClock only moves when told to, so rate-limit tests need no sleeps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t        testing.TB
	svc      *danmaku.Service
	db       *sqlstore.DB
	rooms    *fakeRooms
	accounts *accounttest.Fake
	pusher   *pushtest.Recorder
	clock    *fakeClock
	reg      *prometheus.Registry
	url      string
}

// newHarness starts the service on db with the default config changed by edit, and serves
// its routes on a real listener behind the bearer-token middleware. Its clock moves only
// when the test advances it.
func newHarness(t testing.TB, db *sqlstore.DB, edit func(*danmaku.Config)) *harness {
	return newHarnessWith(t, db, edit, false)
}

// newHarnessWith is newHarness, on the real clock when realClock is set.
func newHarnessWith(t testing.TB, db *sqlstore.DB, edit func(*danmaku.Config), realClock bool) *harness {
	return newHarnessWords(t, db, edit, realClock, nil)
}

// newHarnessWords is newHarnessWith with banned words.
func newHarnessWords(t testing.TB, db *sqlstore.DB, edit func(*danmaku.Config), realClock bool, banned []string) *harness {
	return newHarnessDeps(t, db, edit, realClock, banned, nil)
}

// newHarnessDeps is newHarnessWords with the service's deps changed by editDeps.
func newHarnessDeps(t testing.TB, db *sqlstore.DB, edit func(*danmaku.Config), realClock bool, banned []string, editDeps func(*danmaku.Deps)) *harness {
	cfg := danmaku.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	gen, err := ids.New(1)
	require.NoError(t, err)
	h := &harness{
		t: t, db: db,
		rooms: &fakeRooms{rooms: map[int64]room.Room{
			room1: {ID: room1, OwnerUID: anchor, Title: "anchor's room"},
			room2: {ID: room2, OwnerUID: alice, Title: "alice's room"},
		}},
		accounts: accounttest.New(map[int64]string{anchor: "anchor", alice: "alice", bob: "bob", carol: "carol"}),
		pusher:   &pushtest.Recorder{},
		clock:    &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)},
		reg:      prometheus.NewRegistry(),
	}
	deps := danmaku.Deps{
		Logger: obs.Discard(), Registry: h.reg, DB: db, IDs: gen,
		Rooms: h.rooms, Accounts: h.accounts, Pusher: h.pusher, Now: h.clock.Now,
		Words: textnorm.NewWords(banned),
	}
	if realClock {
		deps.Now = nil
	}
	if editDeps != nil {
		editDeps(&deps)
	}
	h.svc, err = danmaku.New(cfg, deps)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, h.svc.Start(ctx))
	t.Cleanup(func() { require.NoError(t, h.svc.Stop(ctx)) })
	mux := http.NewServeMux()
	h.svc.Register(mux)
	srv := httptest.NewServer(httpx.Identify(h.accounts, nil, mux))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// reply is a decoded response envelope.
type reply struct {
	status int
	header http.Header
	Code   int             `json:"code"`
	Msg    string          `json:"message"`
	Data   json.RawMessage `json:"data"`
}

// do sends a request as uid (0 = anonymous); body is JSON-encoded unless it is a string.
func (h *harness) do(method, path string, uid int64, body any) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	require.NoError(h.t, err)
	if uid != 0 {
		req.Header.Set("Authorization", "Bearer "+accounttest.Token(uid))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var r reply
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&r))
	r.status, r.header = resp.StatusCode, resp.Header
	return r
}

// send posts a comment as uid to room and returns the reply.
func (h *harness) send(uid, roomID int64, body any) reply {
	h.t.Helper()
	return h.do(http.MethodPost, fmt.Sprintf("/api/rooms/%d/danmaku", roomID), uid, body)
}

// sendOK posts text and returns the new comment's id.
func (h *harness) sendOK(uid, roomID int64, text string) int64 {
	h.t.Helper()
	r := h.send(uid, roomID, map[string]any{"text": text})
	require.Equal(h.t, http.StatusOK, r.status, "%d %s", r.Code, r.Msg)
	var out struct{ ID int64 }
	require.NoError(h.t, json.Unmarshal(r.Data, &out))
	require.Positive(h.t, out.ID)
	return out.ID
}

func (h *harness) storedComments() int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.QueryRow("SELECT COUNT(*) FROM danmaku_comments").Scan(&n))
	return n
}

func (h *harness) rejected(reason string) float64 {
	h.t.Helper()
	return h.counter("zhibo_danmaku_rejected_total", reason)
}

// counter reads a registered counter by name and, when reason is set, by its reason label.
func (h *harness) counter(name, reason string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if reason == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	h.t.Fatalf("metric %s{reason=%q} not found", name, reason)
	return 0
}

func (f *fakeRooms) View(ctx context.Context, id, _ int64) (room.Room, room.View, error) {
	r, err := f.Get(ctx, id)
	return r, room.View{ID: id}, err
}

func (f *fakeRooms) List(context.Context, string, int, int64) (room.Page, error) {
	return room.Page{Rooms: []room.View{}}, nil
}
