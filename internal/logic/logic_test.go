package logic

import (
	"context"
	"encoding/json"
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
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/push"
)

// newAccounts is the account fake of these tests: every positive uid is a user, as the
// tests draw their viewers freely (uid 5, a crowd of 10 to 19, ...).
func newAccounts() *accounttest.Fake {
	a := accounttest.New(nil)
	a.KnowAll()
	return a
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	*Service
	tokens   *API
	pub      *push.Publisher
	accounts *accounttest.Fake
}

func newLogic(t *testing.T, mods ...func(*Config)) (*env, *queue.Queue, *clock) {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "t"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	signer, _ := token.NewSigner([]byte("0123456789abcdef"))
	c := &clock{t: time.Now()}
	reg := prometheus.NewRegistry()
	pub := push.NewPublisher(q, reg)
	cfg := Config{ConnTokenTTL: time.Minute, CometTTL: 10 * time.Second, MaxConnsPerToken: 3, EntryInterval: time.Minute}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := New(cfg, Deps{Logger: obs.Discard(), Registry: reg, Queue: q, Publisher: pub, Signer: signer, Now: c.now})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	accounts := newAccounts()
	tokens, err := NewAPI(cfg, APIDeps{Logger: obs.Discard(), Signer: signer, Accounts: accounts, Now: c.now, Pusher: pub, IsAdmin: func(uid int64) bool { return uid == 42 },
		RoomExists: func(_ context.Context, id int64) error {
			if id == 7 || id == 8 {
				return nil
			}
			return apierr.NotFound
		}})
	require.NoError(t, err)
	return &env{Service: s, tokens: tokens, pub: pub, accounts: accounts}, q, c
}

func TestConnectChecksToken(t *testing.T) {
	s, _, c := newLogic(t)
	ctx := context.Background()
	_, err := s.tokens.IssueConnToken(ctx, 5, 404)
	require.ErrorIs(t, err, apierr.NotFound)
	tok, err := s.tokens.IssueConnToken(ctx, 5, 7)
	require.NoError(t, err)

	uid, session, pop, err := s.Connect(ctx, "c1", tok, 0, 7) // uid 0: the token's uid is used
	require.NoError(t, err)
	require.Equal(t, int64(5), uid)
	require.Positive(t, session)
	require.Equal(t, int64(1), pop)
	_, session2, _, err := s.Connect(ctx, "c1", tok, 5, 7)
	require.NoError(t, err)
	require.Equal(t, session, session2, "one token, one session")
	for _, bad := range []struct {
		tok       string
		uid, room int64
	}{{tok, 6, 7}, {tok, 5, 8}, {tok + "x", 5, 7}, {"", 0, 7}} {
		_, _, _, err = s.Connect(ctx, "c1", bad.tok, bad.uid, bad.room)
		require.ErrorIs(t, err, ErrConnRejected)
	}
	// A signed connection token without a session id (as issued before sessions) is refused.
	old := s.deps.Signer.Sign(connKind, token.Claims{UID: 5, RoomID: 7, Exp: c.now().Add(time.Minute).Unix()})
	_, _, _, err = s.Connect(ctx, "c1", old, 5, 7)
	require.ErrorIs(t, err, ErrConnRejected)
	c.add(2 * time.Minute)
	_, _, _, err = s.Connect(ctx, "c1", tok, 5, 7)
	require.ErrorIs(t, err, ErrConnRejected, "expired token")

	counts, _ := s.Counts(ctx, []int64{7})
	require.Equal(t, int64(1), counts[7].Watched, "one user entering twice watched once")
}

// Room 0 is a signed-in user's channel: admitted with a token issued for it, never for a
// guest or with a room's token, and counted in no room.
func TestUserChannel(t *testing.T) {
	s, _, _ := newLogic(t)
	ctx := context.Background()
	tok, err := s.tokens.connToken(ctx, 5, 0)
	require.NoError(t, err)
	uid, session, pop, err := s.Connect(ctx, "c1", tok, 0, 0)
	require.NoError(t, err)
	require.Equal(t, int64(5), uid)
	require.Positive(t, session)
	require.Zero(t, pop)
	guest, err := s.tokens.connToken(ctx, 0, 0)
	require.NoError(t, err)
	_, _, _, err = s.Connect(ctx, "c1", guest, 0, 0)
	require.ErrorIs(t, err, ErrConnRejected, "guests have no channel")
	roomTok, err := s.tokens.IssueConnToken(ctx, 5, 7)
	require.NoError(t, err)
	_, _, _, err = s.Connect(ctx, "c1", roomTok, 5, 0)
	require.ErrorIs(t, err, ErrConnRejected, "a room's token does not open the channel")
	_, _, _, err = s.Connect(ctx, "c1", tok, 5, 7)
	require.ErrorIs(t, err, ErrConnRejected, "the channel's token does not open a room")
	s.mu.Lock()
	_, watched := s.watched[0]
	s.mu.Unlock()
	require.False(t, watched, "no audience is kept for the channel")

	mux := http.NewServeMux()
	s.tokens.Register(mux)
	srv := httptest.NewServer(httpx.Identify(s.accounts, nil, mux))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/channel")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	req, _ := http.NewRequest("GET", srv.URL+"/api/channel", nil)
	req.Header.Set("Authorization", "Bearer "+accounttest.Token(5))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	var env struct{ Data DanmuInfo }
	require.NoError(t, json.Unmarshal(b, &env))
	uid, _, _, err = s.Connect(ctx, "c1", env.Data.Token, 0, 0)
	require.NoError(t, err)
	require.Equal(t, int64(5), uid)
}

func TestOnlineAggregatesAcrossComets(t *testing.T) {
	s, _, c := newLogic(t)
	ctx := context.Background()
	got, _, err := s.ReportOnline(ctx, "a", "", map[int64]int64{7: 3, 8: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, map[int64]int64{7: 3, 8: 1}, got)
	got, _, _ = s.ReportOnline(ctx, "b", "", map[int64]int64{7: 4}, nil)
	require.Equal(t, map[int64]int64{7: 7}, got)
	got, _, _ = s.ReportOnline(ctx, "a", "", map[int64]int64{7: 1}, nil) // a's room 8 emptied
	require.Equal(t, map[int64]int64{7: 5}, got)
	counts, _ := s.Counts(ctx, []int64{7, 8})
	require.Equal(t, int64(5), counts[7].Online)
	require.Equal(t, int64(0), counts[8].Online)

	c.add(11 * time.Second)
	_, _, _ = s.ReportOnline(ctx, "b", "", map[int64]int64{7: 4}, nil)
	s.expireComets() // a is silent for longer than comet_ttl: dropped
	counts, _ = s.Counts(ctx, []int64{7})
	require.Equal(t, int64(4), counts[7].Online)
}

func TestPushesReachTheStream(t *testing.T) {
	s, q, _ := newLogic(t)
	ctx := context.Background()
	require.NoError(t, s.pub.PushRoom(ctx, 7, []byte(`{"cmd":"A"}`), []byte(`{"cmd":"B"}`)))
	require.NoError(t, s.pub.PushUsers(ctx, []int64{1, 2}, []byte(`{"cmd":"C"}`)))
	require.NoError(t, s.pub.PushRoom(ctx, 7)) // nothing to push: nothing published
	got := make(chan push.Push, 4)
	stop, err := q.Consume(ctx, queue.ConsumerSpec{Stream: q.Stream(push.Stream), Durable: "t"}, func(m queue.Msg) {
		p, err := push.Unmarshal(m.Data())
		require.NoError(t, err)
		_ = m.Ack()
		got <- p
	})
	require.NoError(t, err)
	defer stop()
	p := <-got
	require.Equal(t, push.TargetRoom, p.Target)
	require.Equal(t, int64(7), p.RoomID)
	require.Len(t, p.Msgs, 2)
	p = <-got
	require.Equal(t, push.TargetUser, p.Target)
	require.Equal(t, []int64{1, 2}, p.UIDs)
	select {
	case p := <-got:
		t.Fatalf("unexpected push %+v", p)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDanmuInfo(t *testing.T) {
	s, _, _ := newLogic(t)
	s.tokens.deps.LocalHosts = func(r *http.Request) []Host { return []Host{{Host: "h", Port: 1, WSPort: 2}} }
	mux := http.NewServeMux()
	s.tokens.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/rooms/7/danmu-info", 200, `"host_list":[{"host":"h","port":1,"ws_port":2,"wss_port":0}]`},
		{"/api/rooms/9/danmu-info", 404, `"code":-404`},
		{"/xlive/web-room/v1/index/getDanmuInfo?id=7", 200, `"message":"0","ttl":1,"data":{"group":"live"`},
		{"/xlive/web-room/v1/index/getDanmuInfo?id=x", 400, `"code":-400`},
	} {
		resp, err := http.Get(srv.URL + c.path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, c.status, resp.StatusCode, c.path)
		require.True(t, strings.Contains(string(b), c.want), "%s: %s", c.path, b)
	}
}

func TestParseHosts(t *testing.T) {
	hs, err := ParseHosts("a.example:2243:2244, b.example:2243:2244:443")
	require.NoError(t, err)
	require.Equal(t, []Host{{"a.example", 2243, 2244, 0}, {"b.example", 2243, 2244, 443}}, hs)
	for _, bad := range []string{"a", "a:1", "a:x:2", ":1:2", "a:1:2:3:4", "a:1:99999"} {
		_, err := ParseHosts(bad)
		require.Error(t, err, bad)
	}
}

func TestAdminPush(t *testing.T) {
	s, q, _ := newLogic(t)
	mux := http.NewServeMux()
	s.tokens.Register(mux)
	srv := httptest.NewServer(httpx.Identify(s.accounts, nil, mux))
	admin, user := accounttest.Token(42), accounttest.Token(7) // the admin is uid 42
	defer srv.Close()
	post := func(path, tok, body string) int {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := `{"messages":[{"cmd":"NOTICE_MSG","msg_common":"hi"}]}`
	require.Equal(t, 401, post("/api/push/rooms/7", "", ok))
	require.Equal(t, 403, post("/api/push/rooms/7", user, ok))
	require.Equal(t, 404, post("/api/push/rooms/9", admin, ok))
	require.Equal(t, 400, post("/api/push/rooms/7", admin, `{"messages":[]}`))
	require.Equal(t, 400, post("/api/push/rooms/7", admin, `{"messages":[{"no":"cmd"}]}`))
	require.Equal(t, 400, post("/api/push/rooms/7", admin, `{"messages":["text"]}`))
	require.Equal(t, 400, post("/api/push/users", admin, ok))
	require.Equal(t, 400, post("/api/push/all", admin, `{"uids":[1],"messages":[{"cmd":"X"}]}`))

	got := make(chan push.Push, 8)
	stop, err := q.Consume(context.Background(), queue.ConsumerSpec{Stream: q.Stream(push.Stream), Durable: "admin"}, func(m queue.Msg) {
		p, err := push.Unmarshal(m.Data())
		require.NoError(t, err)
		_ = m.Ack()
		got <- p
	})
	require.NoError(t, err)
	defer stop()
	require.Equal(t, 200, post("/api/push/rooms/7", admin, ok))
	require.Equal(t, 200, post("/api/push/users", admin, `{"uids":[1,2],"messages":[{"cmd":"X"}]}`))
	require.Equal(t, 200, post("/api/push/all", admin, `{"messages":[{"cmd":"Y"},{"cmd":"Z"}]}`))
	p := <-got
	require.Equal(t, push.TargetRoom, p.Target)
	require.JSONEq(t, `{"cmd":"NOTICE_MSG","msg_common":"hi"}`, string(p.Msgs[0]))
	p = <-got
	require.Equal(t, []int64{1, 2}, p.UIDs)
	p = <-got
	require.Equal(t, push.TargetAll, p.Target)
	require.Len(t, p.Msgs, 2)
}
