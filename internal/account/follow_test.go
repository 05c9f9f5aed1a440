package account

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

func signUpN(t *testing.T, s *Service, prefix string, n int) []Session {
	t.Helper()
	out := make([]Session, n)
	for i := range out {
		sess, err := s.SignUp(context.Background(), fmt.Sprintf("%s%d", prefix, i), "secret1")
		require.NoError(t, err)
		out[i] = sess
	}
	return out
}

func relation(t *testing.T, s *Service, viewer, uid int64) Relation {
	t.Helper()
	r, err := s.Relation(context.Background(), viewer, uid)
	require.NoError(t, err)
	return r
}

// TestFollowGraph: following is idempotent both ways, counted once per edge on both users,
// refused for oneself and unknown users, and answered pair by pair.
func TestFollowGraph(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, _ := newService(t, db, nil)
		u := signUpN(t, s, "fan", 3)
		a, b, c := u[0].UID, u[1].UID, u[2].UID

		for range 2 {
			require.NoError(t, s.Follow(ctx, a, b))
		}
		require.NoError(t, s.Follow(ctx, c, b))
		require.NoError(t, s.Follow(ctx, b, a))
		require.Equal(t, Relation{UID: b, FollowCounts: FollowCounts{Followers: 2, Following: 1}, Followed: true, FollowsYou: true},
			relation(t, s, a, b))
		require.Equal(t, Relation{UID: b, FollowCounts: FollowCounts{Followers: 2, Following: 1}, Followed: true},
			relation(t, s, c, b))
		require.Equal(t, Relation{UID: a, FollowCounts: FollowCounts{Followers: 1, Following: 1}}, relation(t, s, 0, a))
		require.Equal(t, Relation{UID: c, FollowCounts: FollowCounts{Following: 1}}, relation(t, s, c, c))

		got, err := s.Follows(ctx, []FollowPair{{a, b}, {b, c}, {c, b}, {b, a}, {a, c}, {a, b}})
		require.NoError(t, err)
		require.Equal(t, []bool{true, false, true, true, false, true}, got)

		for range 2 {
			require.NoError(t, s.Unfollow(ctx, a, b))
		}
		require.NoError(t, s.Unfollow(ctx, a, c)) // never followed: nothing to undo
		require.Equal(t, Relation{UID: b, FollowCounts: FollowCounts{Followers: 1, Following: 1}, FollowsYou: true},
			relation(t, s, a, b))
		require.Equal(t, Relation{UID: a, FollowCounts: FollowCounts{Followers: 1, Following: 0}}, relation(t, s, 0, a))
		got, err = s.Follows(ctx, []FollowPair{{a, b}})
		require.NoError(t, err)
		require.Equal(t, []bool{false}, got)

		err = s.Follow(ctx, a, a)
		require.ErrorIs(t, err, ErrFollowSelf)
		require.Equal(t, 400, apierr.From(err).Status)
		err = s.Follow(ctx, a, 999_999)
		require.ErrorIs(t, err, ErrUserNotFound)
		require.Contains(t, err.Error(), "user 999999 not found")
		require.ErrorIs(t, s.Unfollow(ctx, a, 999_999), ErrUserNotFound)
		require.Equal(t, FollowCounts{Followers: 1, Following: 0}, relation(t, s, 0, a).FollowCounts, "refused follows count nothing")
		_, err = s.Relation(ctx, a, 999_999)
		require.ErrorIs(t, err, ErrUserNotFound)
	})
}

// TestFollowPages: followers and followees come newest first in keyset pages that neither
// repeat nor skip anyone, also among edges made in the same millisecond.
func TestFollowPages(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, clk := newService(t, db, nil)
		star := signUpN(t, s, "star", 1)[0].UID
		fans := signUpN(t, s, "fan", 7)
		for i, f := range fans {
			if i%2 == 0 { // pairs of follows share a millisecond
				clk.t = clk.t.Add(time.Millisecond)
			}
			require.NoError(t, s.Follow(ctx, f.UID, star))
			require.NoError(t, s.Follow(ctx, star, f.UID))
		}
		var want []int64 // newest first, ties by the higher uid first
		for i := len(fans) - 1; i >= 0; i-- {
			want = append(want, fans[i].UID)
		}
		for _, list := range []func(context.Context, int64, string, int) (FollowPage, error){s.Followers, s.Following} {
			var seen []int64
			cursor, pages := "", 0
			for {
				p, err := list(ctx, star, cursor, 3)
				require.NoError(t, err)
				pages++
				for _, it := range p.Items {
					seen = append(seen, it.UID)
					require.Equal(t, fmt.Sprintf("fan%d", indexOf(fans, it.UID)), it.Name)
					require.Positive(t, it.At)
				}
				if p.Next == "" {
					break
				}
				require.Len(t, p.Items, 3)
				cursor = p.Next
			}
			require.Equal(t, want, seen)
			require.Equal(t, 3, pages)
		}
		p, err := s.Followers(ctx, fans[0].UID, "", 10)
		require.NoError(t, err)
		require.Equal(t, []Followed{{UID: star, Name: "star0", At: p.Items[0].At}}, p.Items)
		require.Empty(t, p.Next)
		_, err = s.Followers(ctx, star, "garbage", 3)
		require.Equal(t, 400, apierr.From(err).Status)
		_, err = s.Following(ctx, 999_999, "", 3)
		require.ErrorIs(t, err, ErrUserNotFound)
	})
}

func indexOf(ss []Session, uid int64) int {
	for i, s := range ss {
		if s.UID == uid {
			return i
		}
	}
	return -1
}

// TestFollowEvents: each new edge is published once on FOLLOWS, with the follower's name;
// a repeated follow and an unfollow publish nothing.
func TestFollowEvents(t *testing.T) {
	q := openQueue(t)
	gen, err := ids.New(1)
	require.NoError(t, err)
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	s, err := New(Config{TokenTTL: time.Hour, BcryptCost: 4, MinPassword: 6},
		Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: sqltest.OpenSQLite(t), Signer: signer, Queue: q, IDs: gen})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	ctx := context.Background()
	u := signUpN(t, s, "user", 3)

	require.NoError(t, s.Follow(ctx, u[0].UID, u[1].UID))
	require.NoError(t, s.Follow(ctx, u[0].UID, u[1].UID))
	require.NoError(t, s.Unfollow(ctx, u[0].UID, u[1].UID))
	require.NoError(t, s.Follow(ctx, u[2].UID, u[1].UID))

	var mu sync.Mutex
	var got []FollowEvent
	stop, err := q.Consume(ctx, queue.ConsumerSpec{Stream: q.Stream(FollowStreamName), Durable: "test"}, func(m queue.Msg) {
		var ev FollowEvent
		require.NoError(t, json.Unmarshal(m.Data(), &ev))
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
		_ = m.Ack()
	})
	require.NoError(t, err)
	defer stop()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, u[0].UID, got[0].Follower)
	require.Equal(t, "user0", got[0].Name)
	require.Equal(t, u[1].UID, got[0].Followee)
	require.Equal(t, u[2].UID, got[1].Follower)
	require.NotEqual(t, got[0].ID, got[1].ID)
	require.Positive(t, got[0].ID)
	info, err := q.JS.Stream(ctx, q.Stream(FollowStreamName))
	require.NoError(t, err)
	require.EqualValues(t, 2, info.CachedInfo().State.Msgs, "the repeat and the unfollow published nothing")
}

// TestFollowHTTP: the routes, their refusals and their answers.
func TestFollowHTTP(t *testing.T) {
	s, _ := newService(t, sqltest.OpenSQLite(t), nil)
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(s, nil, mux))
	defer srv.Close()
	u := signUpN(t, s, "web", 2)
	a, b := u[0], u[1]
	do := func(method, path, tok string) (int, envelope) {
		r, _ := http.NewRequest(method, srv.URL+path, nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		var env envelope
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		return resp.StatusCode, env
	}
	path := fmt.Sprintf("/api/users/%d/follow", b.UID)
	code, env := do("PUT", path, a.Token)
	require.Equal(t, 200, code, env.Message)
	require.JSONEq(t, fmt.Sprintf(`{"uid":%d,"followers":1,"following":0,"followed":true,"follows_you":false}`, b.UID), string(env.Data))
	code, env = do("PUT", path, a.Token)
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"followers":1`)
	code, env = do("GET", path, "")
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"followed":false`)
	code, env = do("GET", fmt.Sprintf("/api/users/%d/followers?limit=5", b.UID), "")
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"name":"web0"`)
	code, env = do("GET", fmt.Sprintf("/api/users/%d/following", a.UID), "")
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"name":"web1"`)

	code, _ = do("PUT", path, "")
	require.Equal(t, 401, code)
	code, env = do("PUT", fmt.Sprintf("/api/users/%d/follow", a.UID), a.Token)
	require.Equal(t, 400, code)
	require.Equal(t, -40013, env.Code)
	require.Equal(t, "you cannot follow yourself", env.Message)
	code, env = do("PUT", "/api/users/999999/follow", a.Token)
	require.Equal(t, 404, code)
	require.Equal(t, -40005, env.Code)
	code, _ = do("GET", fmt.Sprintf("/api/users/%d/followers?limit=1000", b.UID), "")
	require.Equal(t, 400, code)

	code, env = do("DELETE", path, a.Token)
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"followers":0`)
	code, env = do("DELETE", path, a.Token)
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"followed":false`)
}

type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// TestFollowCountsUnderRaces: many concurrent follows and unfollows of the same pairs, both
// ways, leave counts that match the edges, and no transaction deadlocks.
func TestFollowCountsUnderRaces(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, _ := newService(t, db, nil)
		u := signUpN(t, s, "racer", 4)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					a, b := u[(g+i)%4].UID, u[(g+i+1+g%3)%4].UID
					if a == b {
						continue
					}
					var err error
					if (g+i)%3 == 0 {
						err = s.Unfollow(ctx, a, b)
					} else {
						err = s.Follow(ctx, a, b)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for _, x := range u {
			var followers, following int64
			for _, y := range u {
				f, err := s.Follows(ctx, []FollowPair{{y.UID, x.UID}, {x.UID, y.UID}})
				require.NoError(t, err)
				if f[0] {
					followers++
				}
				if f[1] {
					following++
				}
			}
			require.Equal(t, FollowCounts{Followers: followers, Following: following}, relation(t, s, 0, x.UID).FollowCounts, "user %d", x.UID)
		}
	})
}
