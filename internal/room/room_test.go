package room

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
)

// newAccounts knows the users of these tests: 1 (the admin) to 5, named anchor<uid>, as
// the anchors of the rooms they own.
func newAccounts() *accounttest.Fake {
	names := map[int64]string{}
	for uid := int64(1); uid <= 5; uid++ {
		names[uid] = fmt.Sprintf("anchor%d", uid)
	}
	return accounttest.New(names)
}

// The tokens of user 1 (the admin, who owns the room under test) and user 2 (a viewer).
var ownerTok, viewerTok = accounttest.Token(1), accounttest.Token(2)

type fakeCounter map[int64]logic.Count

func (f fakeCounter) Counts(_ context.Context, ids []int64) (map[int64]logic.Count, error) {
	out := map[int64]logic.Count{}
	for _, id := range ids {
		out[id] = f[id]
	}
	return out, nil
}

func newService(t *testing.T, db *sqlstore.DB, counter logic.Counter) (*Service, *pushtest.Recorder) {
	return newServiceWith(t, db, func(_ *Config, d *Deps) { d.Counter = counter })
}

// newServiceWith starts a service whose config and deps edit changed.
func newServiceWith(t *testing.T, db *sqlstore.DB, edit func(*Config, *Deps)) (*Service, *pushtest.Recorder) {
	p := &pushtest.Recorder{}
	cfg := Config{MaxRoomsPerUser: 1, MaxListLimit: 50, HotThreshold: 1000}
	deps := Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Accounts: newAccounts(), Pusher: p,
		IsAdmin: func(uid int64) bool { return uid == 1 }}
	if edit != nil {
		edit(&cfg, &deps)
	}
	s, err := New(cfg, deps)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, p
}

func str(s string) *string { return &s }

func TestRoomLifecycle(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, p := newService(t, db, nil)
		r, err := s.Create(ctx, 1, Fields{Title: str("  first  ")})
		require.NoError(t, err)
		require.Equal(t, "first", r.Title)
		require.NotEmpty(t, r.StreamKey)
		_, err = s.Create(ctx, 1, Fields{Title: str("second")})
		require.ErrorIs(t, err, ErrRoomLimit)

		_, err = s.SetLive(ctx, 2, r.ID, true)
		require.ErrorIs(t, err, ErrNotOwner)
		live, err := s.SetLive(ctx, 1, r.ID, true)
		require.NoError(t, err)
		require.True(t, live.Live)
		require.NotZero(t, live.LiveStartedAt)
		rot, err := s.RotateStreamKey(ctx, 1, r.ID)
		require.NoError(t, err)
		require.NotEqual(t, r.StreamKey, rot.StreamKey)

		_, err = s.Update(ctx, 1, r.ID, Fields{Title: str("")})
		require.ErrorIs(t, err, ErrBadRoom)
		_, err = s.Update(ctx, 1, r.ID, Fields{Cover: str("javascript:alert(1)")})
		require.ErrorIs(t, err, ErrBadCover)
		up, err := s.Update(ctx, 1, r.ID, Fields{Title: str("renamed"), Area: str("games")})
		require.NoError(t, err)
		require.Equal(t, "renamed", up.Title)
		require.Equal(t, "games", up.Area)

		require.NoError(t, s.SetTag(ctx, r.ID, "gift_rank", true))
		require.NoError(t, s.SetTag(ctx, r.ID, "gift_rank", true))
		require.NoError(t, s.SetTag(ctx, r.ID, "lottery", true))
		got, err := s.Get(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"gift_rank", "lottery"}, got.Tags)
		require.NoError(t, s.SetTag(ctx, r.ID, "lottery", false))
		got, _ = s.Get(ctx, r.ID)
		require.Equal(t, []string{"gift_rank"}, got.Tags)

		_, err = s.SetLive(ctx, 1, r.ID, false)
		require.NoError(t, err)
		_, err = s.Get(ctx, 999)
		require.ErrorIs(t, err, ErrRoomNotFound)

		msgs := p.Msgs()
		require.Len(t, msgs, 3)
		require.Contains(t, msgs[0], `"cmd":"LIVE"`)
		require.Contains(t, msgs[1], `"cmd":"ROOM_CHANGE"`)
		require.Contains(t, msgs[2], `"cmd":"PREPARING"`)
	})
}

func TestListOrderAndCursor(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		counts := fakeCounter{}
		s, _ := newService(t, db, counts)
		var ids []int64
		for owner := int64(1); owner <= 5; owner++ {
			r, err := s.Create(ctx, owner, Fields{Title: str("room")})
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		// Rooms 2 and 4 are live; 4 has more viewers.
		for _, i := range []int{1, 3} {
			_, err := s.SetLive(ctx, int64(i+1), ids[i], true)
			require.NoError(t, err)
		}
		counts[ids[1]] = logic.Count{Online: 5}
		counts[ids[3]] = logic.Count{Online: 50}
		require.NoError(t, s.refreshPopularity(ctx))

		mux := http.NewServeMux()
		s.Register(mux)
		srv := httptest.NewServer(httpx.Identify(newAccounts(), nil, mux))
		defer srv.Close()
		var seen []int64
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5)
			var env struct {
				Data Page `json:"data"`
			}
			code := get(t, srv.URL+"/api/rooms?limit=2&cursor="+cursor, "", &env)
			require.Equal(t, 200, code)
			for _, v := range env.Data.Rooms {
				seen = append(seen, v.ID)
				require.NotNil(t, v.Stats)
				require.Equal(t, fmt.Sprintf("anchor%d", v.Base.OwnerUID), v.Anchor.Name)
				require.Empty(t, v.Live.StreamKey)
			}
			if env.Data.NextCursor == "" {
				break
			}
			cursor = env.Data.NextCursor
		}
		require.Equal(t, []int64{ids[3], ids[1], ids[4], ids[2], ids[0]}, seen)
		require.Equal(t, 400, get(t, srv.URL+"/api/rooms?cursor=garbage", "", nil))
		require.Equal(t, 400, get(t, srv.URL+"/api/rooms?limit=0", "", nil))
	})
}

func get(t *testing.T, url, tok string, out any) int {
	return do(t, "GET", url, tok, "", out)
}

func do(t *testing.T, method, url, tok, body string, out any) int {
	r, _ := http.NewRequest(method, url, strings.NewReader(body))
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

func TestHTTPModulesAndErrors(t *testing.T) {
	s, _ := newService(t, sqltest.OpenSQLite(t), fakeCounter{})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(newAccounts(), nil, mux))
	defer srv.Close()

	var env struct {
		Data View `json:"data"`
	}
	require.Equal(t, 401, do(t, "POST", srv.URL+"/api/rooms", "", `{"title":"x"}`, nil))
	require.Equal(t, 400, do(t, "POST", srv.URL+"/api/rooms", ownerTok, `{"title":"x","owner_uid":2}`, nil))
	require.Equal(t, 400, do(t, "POST", srv.URL+"/api/rooms", ownerTok, `{"title":`+`"`+strings.Repeat("长", 41)+`"}`, nil))
	require.Equal(t, 200, do(t, "POST", srv.URL+"/api/rooms", ownerTok, `{"title":"my room"}`, &env))
	id := env.Data.ID
	require.NotEmpty(t, env.Data.Live.StreamKey)
	u := srv.URL + "/api/rooms/" + itoa(id)

	env.Data = View{}
	require.Equal(t, 200, get(t, u, "", &env))
	require.NotNil(t, env.Data.Base)
	require.NotNil(t, env.Data.Live)
	require.Nil(t, env.Data.Stats)
	require.Empty(t, env.Data.Live.StreamKey)

	env.Data = View{}
	require.Equal(t, 200, get(t, u+"?mask=tags,stats", "", &env))
	require.Nil(t, env.Data.Base)
	require.NotNil(t, env.Data.Stats)
	require.NotNil(t, env.Data.Tags)
	require.Nil(t, env.Data.Stats.VideoViewers, "no video_viewers without media in the process")
	s.CountVideoViewers(func(context.Context, []int64) (map[int64]int64, error) { return map[int64]int64{id: 3}, nil })
	env.Data = View{}
	require.Equal(t, 200, get(t, u+"?mask=stats", "", &env))
	require.NotNil(t, env.Data.Stats.VideoViewers)
	require.Equal(t, int64(3), *env.Data.Stats.VideoViewers)
	require.Equal(t, 400, get(t, u+"?mask=base,secret", "", nil))
	require.Equal(t, 404, get(t, srv.URL+"/api/rooms/424242", "", nil))
	require.Equal(t, 400, get(t, srv.URL+"/api/rooms/abc", "", nil))

	require.Equal(t, 403, do(t, "POST", u+"/live", viewerTok, `{"on":true}`, nil))
	require.Equal(t, 400, do(t, "POST", u+"/live", ownerTok, `{}`, nil))
	require.Equal(t, 400, do(t, "POST", u+"/live", ownerTok, `{"on":"yes"}`, nil))
	var live struct {
		Data LiveView `json:"data"`
	}
	require.Equal(t, 200, do(t, "POST", u+"/live", ownerTok, `{"on":true}`, &live))
	require.Equal(t, "live", live.Data.Status)
	require.NotEmpty(t, live.Data.StreamKey)
	require.Equal(t, 403, do(t, "PATCH", u, viewerTok, `{"title":"mine now"}`, nil))
	require.Equal(t, 200, get(t, srv.URL+"/api/me/room", ownerTok, nil))
	require.Equal(t, 404, get(t, srv.URL+"/api/me/room", viewerTok, nil))
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestAdminHot(t *testing.T) {
	ctx := context.Background()
	counts := fakeCounter{}
	s, _ := newService(t, sqltest.OpenSQLite(t), counts)
	a, err := s.Create(ctx, 1, Fields{Title: str("big")})
	require.NoError(t, err)
	b, err := s.Create(ctx, 2, Fields{Title: str("event")})
	require.NoError(t, err)
	_, err = s.SetLive(ctx, 1, a.ID, true)
	require.NoError(t, err)
	counts[a.ID] = logic.Count{Online: 5000}
	require.NoError(t, s.refreshPopularity(ctx))
	require.True(t, s.Hot().IsHot(a.ID, 1000))
	require.False(t, s.Hot().IsHot(a.ID, 10000))
	s.AddHotKeys("room", func() []HotKey { return []HotKey{{Key: "room:1", Count: 99}} })

	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(newAccounts(), nil, mux))
	defer srv.Close()
	var env struct {
		Data HotView `json:"data"`
	}
	require.Equal(t, 401, get(t, srv.URL+"/api/admin/hot", "", nil))
	require.Equal(t, 403, get(t, srv.URL+"/api/admin/hot", viewerTok, nil))
	require.Equal(t, 200, get(t, srv.URL+"/api/admin/hot", ownerTok, &env))
	require.Len(t, env.Data.Rooms, 1)
	require.Equal(t, a.ID, env.Data.Rooms[0].ID)
	require.Equal(t, uint64(99), env.Data.Keys["room"][0].Count)

	pin := srv.URL + "/api/admin/hot/rooms/" + itoa(b.ID)
	require.Equal(t, 403, do(t, "POST", pin, viewerTok, `{"for":"1h"}`, nil))
	require.Equal(t, 400, do(t, "POST", pin, ownerTok, `{"for":"forever"}`, nil))
	require.Equal(t, 400, do(t, "POST", pin, ownerTok, `{"for":"9999h"}`, nil))
	require.Equal(t, 404, do(t, "POST", srv.URL+"/api/admin/hot/rooms/4242", ownerTok, `{"for":"1h"}`, nil))
	require.Equal(t, 200, do(t, "POST", pin, ownerTok, `{"for":"1h","reason":"final"}`, nil))
	require.True(t, s.Hot().IsHot(b.ID, 1_000_000), "pinned ahead of its audience")
	env.Data = HotView{}
	require.Equal(t, 200, get(t, srv.URL+"/api/admin/hot?threshold=100000", ownerTok, &env))
	require.Len(t, env.Data.Rooms, 1)
	require.Equal(t, "final", env.Data.Rooms[0].Pinned.Reason)
	require.Equal(t, 200, do(t, "DELETE", pin, ownerTok, "", nil))
	require.False(t, s.Hot().IsHot(b.ID, 1_000_000))
}

// Rooms pinned by room.hot_rooms never expire, and /api/admin/hot still lists them (a pin
// past year 9999 cannot be encoded as JSON).
func TestConfigPinsAreListed(t *testing.T) {
	s, _ := newServiceWith(t, sqltest.OpenSQLite(t), func(c *Config, _ *Deps) { c.HotRooms = []int64{7} })
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(newAccounts(), nil, mux))
	defer srv.Close()
	var env struct {
		Data HotView `json:"data"`
	}
	require.Equal(t, 200, get(t, srv.URL+"/api/admin/hot", ownerTok, &env))
	require.Len(t, env.Data.Rooms, 1)
	require.Equal(t, int64(7), env.Data.Rooms[0].ID)
	require.Equal(t, "config: room.hot_rooms", env.Data.Rooms[0].Pinned.Reason)
}
