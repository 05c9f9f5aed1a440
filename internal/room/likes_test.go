package room

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

// likesService starts a room service with likes on q (burst 4, then one a minute), not
// stopped by t: callers stop it (a restart is part of the tests).
func likesService(t *testing.T, db *sqlstore.DB, q *queue.Queue, p *pushtest.Recorder) *Service {
	s, err := New(Config{MaxRoomsPerUser: 1, MaxListLimit: 50, HotThreshold: 1000,
		Likes: LikesConfig{Window: 20 * time.Millisecond, Rate: 1.0 / 60, Burst: 4}},
		Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Accounts: newAccounts(),
			Pusher: p, Queue: q})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}

func likesOf(t *testing.T, s *Service, id int64) int64 {
	v := s.Views(context.Background(), []Room{{ID: id}}, all, 0)[0]
	require.NotNil(t, v.Stats)
	return v.Stats.Likes
}

func waitLikes(t *testing.T, s *Service, id, want int64) {
	t.Helper()
	require.Eventually(t, func() bool { return likesOf(t, s, id) == want }, 10*time.Second, 10*time.Millisecond,
		"likes of room %d never reached %d", id, want)
}

// TestLikesCountedOnce: accepted likes count once across retries with a key, re-publishes and
// redeliveries; rejected requests get their status and count nothing; every flush pushes the
// room's total; a restart loses nothing.
func TestLikesCountedOnce(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		q, err := queue.Open(ctx, queue.Config{}, t.TempDir(), obs.Discard())
		require.NoError(t, err)
		t.Cleanup(q.Close)
		p := &pushtest.Recorder{}
		s := likesService(t, db, q, p)
		title := "liked"
		rm, err := s.Create(ctx, 1, Fields{Title: &title})
		require.NoError(t, err)
		mux := http.NewServeMux()
		s.Register(mux)
		srv := httptest.NewServer(httpx.Identify(newAccounts(), nil, mux))
		defer srv.Close()
		u := srv.URL + "/api/rooms/" + itoa(rm.ID) + "/likes"
		like := func(tok, body string) int {
			var env struct {
				Data LikesAccepted `json:"data"`
			}
			code := do(t, "POST", u, tok, body, &env)
			if code == 200 {
				require.Positive(t, env.Data.Accepted)
			}
			return code
		}

		require.Equal(t, 200, like(viewerTok, `{"count":5,"idempotency_key":"tap-1"}`))
		require.Equal(t, 200, like(viewerTok, `{"count":5,"idempotency_key":"tap-1"}`)) // a retry
		require.Equal(t, 200, like(viewerTok, `{"count":2}`))
		waitLikes(t, s, rm.ID, 7)
		require.Eventually(t, func() bool { return p.Has(`{"cmd":"LIKE_INFO_V3_UPDATE","data":{"click_count":7}}`) },
			10*time.Second, 10*time.Millisecond)

		// Rejected: nothing stored, no token of the user's limit spent.
		require.Equal(t, 401, like("", `{"count":1}`))
		for _, body := range []string{`{"count":0}`, `{"count":101}`, `{}`, `{"count":1.5}`,
			`{"count":1,"idempotency_key":"has space"}`, `{"count":1,"idempotency_key":"` + strings.Repeat("k", 65) + `"}`,
			`{"count":1,"extra":true}`} {
			require.Equal(t, 400, like(viewerTok, body), body)
		}
		require.Equal(t, 404, do(t, "POST", srv.URL+"/api/rooms/424242/likes", viewerTok, `{"count":1}`, nil))
		require.Equal(t, 200, like(viewerTok, `{"count":1,"idempotency_key":"tap-2"}`)) // the burst's 4th
		r, _ := http.NewRequest("POST", u, strings.NewReader(`{"count":9}`))
		r.Header.Set("Authorization", "Bearer "+viewerTok)
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 429, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
		require.Equal(t, 200, like(ownerTok, `{"count":1}`)) // stored after every rejected one
		waitLikes(t, s, rm.ID, 9)

		// A re-publish past the duplicate window (new message, known id) and a redelivery of
		// an event whose commit was not acknowledged are both skipped.
		id := likeEventID(2, rm.ID, "tap-1")
		data, _ := json.Marshal(LikeEvent{Room: rm.ID, UID: 2, Count: 5, ID: id})
		require.NoError(t, q.Publish(ctx, q.Subject(LikesSubjectPrefix+itoa(rm.ID)), data, "late-copy"))
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(s.likes.events.WithLabelValues("skipped")) >= 1
		}, 10*time.Second, 10*time.Millisecond)
		s.likes.d.Add(1<<40, aggregate.Event[int64]{ID: id, Deltas: []aggregate.Delta[int64]{{Key: rm.ID, N: 5}}}, nil)
		require.NoError(t, s.likes.d.Flush(ctx))
		require.Equal(t, int64(9), likesOf(t, s, rm.ID))

		// Stop folds what it holds; the next process continues from the stream.
		require.NoError(t, s.Stop(ctx))
		data, _ = json.Marshal(LikeEvent{Room: rm.ID, UID: 2, Count: 3, ID: likeEventID(2, rm.ID, "while-down")})
		require.NoError(t, q.Publish(ctx, q.Subject(LikesSubjectPrefix+itoa(rm.ID)), data, ""))
		s2 := likesService(t, db, q, p)
		defer func() { require.NoError(t, s2.Stop(ctx)) }()
		waitLikes(t, s2, rm.ID, 12)
		require.Eventually(t, func() bool { return p.Has(`{"cmd":"LIKE_INFO_V3_UPDATE","data":{"click_count":12}}`) },
			10*time.Second, 10*time.Millisecond)
		var claimed int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+likesAppliedTable).Scan(&claimed))
		require.Equal(t, 5, claimed, "tap-1 (and its copies), the keyless one, tap-2, the owner's, while-down")
	})
}

// TestLikesDisabledWithoutQueue: without a queue the route answers 503 and stats show 0.
func TestLikesDisabledWithoutQueue(t *testing.T) {
	s, _ := newService(t, sqltest.OpenSQLite(t), nil)
	title := "quiet"
	rm, err := s.Create(context.Background(), 1, Fields{Title: &title})
	require.NoError(t, err)
	require.ErrorIs(t, s.Like(context.Background(), 2, rm.ID, 1, ""), ErrLikesOff)
	require.Equal(t, int64(0), likesOf(t, s, rm.ID))
}

func TestLikeEventID(t *testing.T) {
	require.Equal(t, likeEventID(2, 7, "k"), likeEventID(2, 7, "k"))
	require.NotEqual(t, likeEventID(2, 7, "k"), likeEventID(3, 7, "k"), "keys are scoped to their user")
	require.NotEqual(t, likeEventID(2, 7, "k"), likeEventID(2, 8, "k"), "and to their room")
	require.NotEqual(t, likeEventID(2, 7, ""), likeEventID(2, 7, ""))
	for range 100 {
		require.Positive(t, likeEventID(2, 7, ""))
	}
}
