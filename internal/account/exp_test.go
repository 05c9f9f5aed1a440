package account

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

func TestLevel(t *testing.T) {
	for exp, want := range map[int64]int{
		-5: 1, 0: 1, 9: 1, 10: 2, 39: 2, 40: 3, 90: 4, 810: 10, 34_809: 59, 34_810: 60, 1 << 40: MaxLevel,
	} {
		require.Equal(t, want, Level(exp), "exp %d", exp)
	}
}

// expService starts a service folding experience from an embedded queue, stopped when t ends.
func expService(t *testing.T, db *sqlstore.DB, q *queue.Queue) *Service {
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	s, err := New(Config{TokenTTL: time.Hour, BcryptCost: 4, MinPassword: 6, ExpWindow: 20 * time.Millisecond},
		Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Signer: signer, Queue: q})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	return s
}

func openQueue(t *testing.T) *queue.Queue {
	q, err := queue.Open(context.Background(), queue.Config{}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	return q
}

func waitExp(t *testing.T, s *Service, uid, want int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, _, err := s.Exp(context.Background(), uid)
		return err == nil && got == want
	}, 10*time.Second, 10*time.Millisecond, "exp of %d never reached %d", uid, want)
}

// TestExpFoldedOnce: every grant counts once whether it is retried within the duplicate window
// (same message id), re-published after it (new message, same event id), or redelivered to a
// restarted fold after the first one committed without acknowledging.
func TestExpFoldedOnce(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		q := openQueue(t)
		s := expService(t, db, q)
		alice, err := s.SignUp(ctx, "alice", "secret1")
		require.NoError(t, err)
		bob, err := s.SignUp(ctx, "bob", "secret1")
		require.NoError(t, err)
		pub, err := NewExpPublisher(q, prometheus.NewRegistry())
		require.NoError(t, err)

		require.NoError(t, pub.AddExp(ctx, alice.UID, 1, 1001))
		require.NoError(t, pub.AddExp(ctx, alice.UID, 1, 1001)) // a retry: stored once
		require.NoError(t, pub.AddExp(ctx, alice.UID, 5, 1002))
		require.NoError(t, pub.AddExp(ctx, bob.UID, 300, 1003))
		waitExp(t, s, alice.UID, 6)
		waitExp(t, s, bob.UID, 300)

		// A re-publish past the duplicate window: a new stream message with a known event id.
		data, _ := json.Marshal(ExpEvent{UID: alice.UID, Delta: 5, ID: 1002})
		require.NoError(t, q.Publish(ctx, q.Subject(ExpSubjectPrefix+strconv.FormatInt(alice.UID, 10)), data, "late-copy"))
		require.NoError(t, pub.AddExp(ctx, alice.UID, 2, 1004)) // and a fresh one behind it
		waitExp(t, s, alice.UID, 8)
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(s.exp.folds.WithLabelValues("skipped")) >= 1
		}, 10*time.Second, 10*time.Millisecond)

		// A redelivery to another process after a commit whose ack was lost.
		s.exp.d.Add(1<<40, aggregate.Event[int64]{ID: 1003, Deltas: []aggregate.Delta[int64]{{Key: bob.UID, N: 300}}}, nil)
		require.NoError(t, s.exp.d.Flush(ctx))
		exp, level, err := s.Exp(ctx, bob.UID)
		require.NoError(t, err)
		require.Equal(t, int64(300), exp)
		require.Equal(t, 6, level)
		var claimed int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+expAppliedTable).Scan(&claimed))
		require.Equal(t, 4, claimed)
	})
}

// TestExpSurvivesRestart: events published while no fold runs are folded by the next one,
// and what a stopped fold had received was flushed by Stop.
func TestExpSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	db := sqltest.OpenSQLite(t)
	q := openQueue(t)
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	build := func() *Service {
		s, err := New(Config{TokenTTL: time.Hour, BcryptCost: 4, MinPassword: 6, ExpWindow: time.Hour},
			Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Signer: signer, Queue: q})
		require.NoError(t, err)
		require.NoError(t, s.Start(ctx))
		return s
	}
	s := build()
	u, err := s.SignUp(ctx, "carol", "secret1")
	require.NoError(t, err)
	pub, err := NewExpPublisher(q, prometheus.NewRegistry())
	require.NoError(t, err)
	for i := range int64(20) {
		require.NoError(t, pub.AddExp(ctx, u.UID, 1, 2000+i))
	}
	require.Eventually(t, func() bool { return s.exp.d.Pending() == 20 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, s.Stop(ctx)) // the hour-long window is cut short by the final flush
	exp, _, err := s.Exp(ctx, u.UID)
	require.NoError(t, err)
	require.Equal(t, int64(20), exp)

	for i := range int64(5) {
		require.NoError(t, pub.AddExp(ctx, u.UID, 10, 3000+i))
	}
	s2 := build()
	require.Eventually(t, func() bool { return s2.exp.d.Pending() == 5 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, s2.Stop(ctx))
	exp, level, err := s2.Exp(ctx, u.UID)
	require.NoError(t, err)
	require.Equal(t, int64(70), exp)
	require.Equal(t, 3, level)
}

func TestMeShowsExpAndLevel(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	s := expService(t, sqltest.OpenSQLite(t), q)
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(s, nil, mux))
	defer srv.Close()
	sess, err := s.SignUp(ctx, "dave", "secret1")
	require.NoError(t, err)
	pub, err := NewExpPublisher(q, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, pub.AddExp(ctx, sess.UID, 95, 4001))
	waitExp(t, s, sess.UID, 95)

	req, _ := http.NewRequest("GET", srv.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct {
		Data Me `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	require.Equal(t, int64(95), env.Data.Exp)
	require.Equal(t, 4, env.Data.Level)
	require.Nil(t, env.Data.Balance)

	require.Error(t, pub.AddExp(ctx, 0, 1, 4002), "a grant without a user is refused")
}
