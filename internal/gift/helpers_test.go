package gift

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Fixture users and rooms.
const (
	anchorUID = int64(1)
	aliceUID  = int64(2)
	bobUID    = int64(3)
	carolUID  = int64(4)
	opUID     = int64(9) // the only admin

	roomMain     = int64(100) // owned by anchorUID
	roomNoAnchor = int64(200) // no owner
	roomSecond   = int64(300) // also owned by anchorUID
	roomTagged   = int64(400) // owned by anchorUID, already tagged gift_rank
)

type tagCall struct {
	Room int64
	Tag  string
	On   bool
}

// fakeRooms is an in-memory room.Client recording SetTag calls.
type fakeRooms struct {
	mu    sync.Mutex
	rooms map[int64]room.Room
	tags  []tagCall
}

func newFakeRooms() *fakeRooms {
	return &fakeRooms{rooms: map[int64]room.Room{
		roomMain:     {ID: roomMain, OwnerUID: anchorUID, Title: "main"},
		roomNoAnchor: {ID: roomNoAnchor, Title: "orphan"},
		roomSecond:   {ID: roomSecond, OwnerUID: anchorUID, Title: "second"},
		roomTagged:   {ID: roomTagged, OwnerUID: anchorUID, Title: "tagged", Tags: []string{RankTag}},
	}}
}

func (f *fakeRooms) Get(_ context.Context, id int64) (room.Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	if !ok {
		return room.Room{}, apierr.NotFound.Withf("room %d not found", id)
	}
	return r, nil
}

func (f *fakeRooms) SetTag(_ context.Context, id int64, tag string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tags = append(f.tags, tagCall{id, tag, on})
	return nil
}

func (f *fakeRooms) StreamRoom(context.Context, string) (int64, error) {
	return 0, room.ErrBadStreamKey
}

func (f *fakeRooms) SetStreamLive(context.Context, int64, bool) error      { return nil }
func (f *fakeRooms) ConfirmStreams(context.Context, string, []int64) error { return nil }

func (f *fakeRooms) tagCalls() []tagCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tagCall(nil), f.tags...)
}

// newAccounts knows the fixture's users.
func newAccounts() *accounttest.Fake {
	return accounttest.New(map[int64]string{anchorUID: "anchor", aliceUID: "alice", bobUID: "bob", carolUID: "carol", opUID: "operator"})
}

// testConfig is the default config with short windows and 1000 coins in every new wallet
// (wallets start empty by default; these tests are about spending).
func testConfig(t testing.TB) Config {
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), "gift.")
	cfg.InitialBalance = 1000
	cfg.AggregateWindow = 20 * time.Millisecond
	cfg.RelayInterval = 50 * time.Millisecond
	require.NoError(t, cfg.Validate())
	return cfg
}

// env is a started service on db with an embedded queue, fakes and an HTTP server.
type env struct {
	db       *sqlstore.DB
	q        *queue.Queue
	svc      *Service
	rooms    *fakeRooms
	accounts *accounttest.Fake
	pusher   *pushtest.Recorder
	srv      *httptest.Server
}

func newEnv(t testing.TB, db *sqlstore.DB, mod func(*Config)) *env {
	q, err := queue.Open(context.Background(), queue.Config{}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	e := &env{db: db, q: q, rooms: newFakeRooms(), accounts: newAccounts(), pusher: &pushtest.Recorder{}}
	cfg := testConfig(t)
	if mod != nil {
		mod(&cfg)
	}
	e.svc = e.start(t, cfg)
	mux := http.NewServeMux()
	e.svc.Register(mux)
	e.srv = httptest.NewServer(httpx.Identify(e.accounts, nil, mux))
	t.Cleanup(e.srv.Close)
	return e
}

// start builds and starts a service on e's database and queue, stopped when t ends; edits
// change its dependencies first.
func (e *env) start(t testing.TB, cfg Config, edits ...func(*Deps)) *Service {
	gen, err := ids.New(1)
	require.NoError(t, err)
	deps := Deps{
		Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: e.db, IDs: gen, Queue: e.q,
		Rooms: e.rooms, Accounts: e.accounts, Pusher: e.pusher,
		IsAdmin: func(uid int64) bool { return uid == opUID },
	}
	for _, edit := range edits {
		edit(&deps)
	}
	svc, err := New(cfg, deps)
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, svc.Stop(context.Background())) })
	return svc
}

// call sends a request as uid (0 = anonymous); body is a string sent verbatim or a value
// encoded as JSON. It returns the status and the envelope.
func (e *env) call(t testing.TB, method, path string, uid int64, body any) (int, envelope) {
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(t, err)
	if uid != 0 {
		req.Header.Set("Authorization", "Bearer "+accounttest.Token(uid))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env envelope
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	return resp.StatusCode, env
}

type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// send posts a gift and requires success.
func (e *env) send(t testing.TB, uid, roomID, giftID, num int64, key string) Order {
	status, env := e.call(t, "POST", fmt.Sprintf("/api/rooms/%d/gifts", roomID), uid,
		map[string]any{"gift_id": giftID, "num": num, "idempotency_key": key})
	require.Equal(t, http.StatusOK, status, "%+v", env)
	var o Order
	require.NoError(t, json.Unmarshal(env.Data, &o))
	return o
}

func (e *env) balance(t testing.TB, uid int64) int64 {
	status, env := e.call(t, "GET", "/api/wallet", uid, nil)
	require.Equal(t, http.StatusOK, status, "%+v", env)
	var w struct{ UID, Balance int64 }
	require.NoError(t, json.Unmarshal(env.Data, &w))
	require.Equal(t, uid, w.UID)
	return w.Balance
}

func (e *env) rank(t testing.TB, roomID int64, query string) Rank {
	status, env := e.call(t, "GET", fmt.Sprintf("/api/rooms/%d/rank%s", roomID, query), 0, nil)
	require.Equal(t, http.StatusOK, status, "%+v", env)
	var r Rank
	require.NoError(t, json.Unmarshal(env.Data, &r))
	return r
}

func (e *env) count(t testing.TB, query string, args ...any) int64 {
	var n int64
	require.NoError(t, e.db.QueryRowContext(context.Background(), query, args...).Scan(&n))
	return n
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, append([]any{msg}, args...)...)
}

func (f *fakeRooms) View(ctx context.Context, id, _ int64) (room.Room, room.View, error) {
	r, err := f.Get(ctx, id)
	return r, room.View{ID: id}, err
}

func (f *fakeRooms) List(context.Context, string, int, int64) (room.Page, error) {
	return room.Page{Rooms: []room.View{}}, nil
}
