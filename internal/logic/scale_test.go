package logic

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/presence"
	"github.com/zhibo-live/zhibo/internal/push"
)

// sharedLogic is a logic process on the shared queue at url/ns, with presence.
func sharedLogic(t *testing.T, url, ns string) (*Service, *presence.Table) {
	q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: ns}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	p, err := presence.Open(context.Background(), q, obs.Discard())
	require.NoError(t, err)
	signer, _ := token.NewSigner([]byte("0123456789abcdef"))
	reg := prometheus.NewRegistry()
	s, err := New(Config{ConnTokenTTL: time.Minute, CometTTL: 10 * time.Second, MaxConnsPerToken: 3, EntryInterval: time.Minute},
		Deps{Logger: obs.Discard(), Registry: reg, Queue: q, Publisher: push.NewPublisher(q, reg), Signer: signer, Presence: p})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, p
}

// Several logic processes share the online counts: each comet reports to one of them, and
// every one answers with the cluster-wide totals (one logic alone would see only its half).
// The first viewer of a room on a comet is published as a join before Connect returns.
func TestLogicsShareCounts(t *testing.T) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "logics")
	l1, _ := sharedLogic(t, url, ns)
	l2, p2 := sharedLogic(t, url, ns)
	ctx := context.Background()

	_, _, err := l1.ReportOnline(ctx, "comet-a", "10.0.0.1:9100", map[int64]int64{7: 3, 8: 1}, nil)
	require.NoError(t, err)
	got, _, err := l2.ReportOnline(ctx, "comet-b", "10.0.0.2:9100", map[int64]int64{7: 4}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c1, _ := l1.Counts(ctx, []int64{7, 8})
		c2, _ := l2.Counts(ctx, []int64{7, 8})
		return c1[7].Online == 7 && c2[7].Online == 7 && c1[8].Online == 1 && c2[8].Online == 1
	}, 10*time.Second, 5*time.Millisecond, "both logics see both comets")
	require.LessOrEqual(t, got[7], int64(7))

	// A join through l1 reaches a job's view (here: l2's watch) without waiting for a report.
	api, err := NewAPI(Config{ConnTokenTTL: time.Minute}, APIDeps{Logger: obs.Discard(), Signer: l1.deps.Signer,
		Accounts: newAccounts(), Pusher: l1.deps.Publisher, RoomExists: func(context.Context, int64) error { return nil }})
	require.NoError(t, err)
	tok, err := api.IssueConnToken(ctx, 5, 9)
	require.NoError(t, err)
	_, _, _, err = l1.Connect(ctx, "comet-b", tok, 0, 9)
	require.NoError(t, err)
	require.True(t, l1.view.Holds(presence.Key("comet-b"), 9), "the connecting logic routes at once")
	require.Eventually(t, func() bool { return l2.view.Holds(presence.Key("comet-b"), 9) }, 10*time.Second, 5*time.Millisecond)
	view := presence.NewView(10*time.Second, time.Minute)
	ready, err := p2.Watch(ctx, func(e presence.Event) { view.Apply(e) })
	require.NoError(t, err)
	<-ready
	require.Equal(t, map[string]string{"comet-a": "10.0.0.1:9100", "comet-b": "10.0.0.2:9100"}, view.Comets(),
		"a reader finds every comet by its report")
}

// The users someone tracks reach every comet through any logic's answer, and the users a comet
// names reach every reader through presence: a list when it names some, one empty list when it
// names none again, nothing while it names none.
func TestLogicsShareTrackedUsers(t *testing.T) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "tracked")
	l1, p1 := sharedLogic(t, url, ns)
	l2, _ := sharedLogic(t, url, ns)
	ctx := context.Background()

	require.NoError(t, p1.Track(ctx, 42))
	require.NoError(t, p1.Track(ctx, 43))
	require.Eventually(t, func() bool {
		_, w, err := l2.ReportOnline(ctx, "comet-b", "", nil, nil)
		require.NoError(t, err)
		return len(w) == 2
	}, 10*time.Second, 5*time.Millisecond, "the other logic answers with the tracked users")
	_, watched, _ := l2.ReportOnline(ctx, "comet-b", "", nil, nil)
	require.Equal(t, []int64{42, 43}, watched)

	users := presence.NewUsers(10 * time.Second)
	var mu sync.Mutex
	lists := 0
	ready, err := p1.WatchUsers(ctx, func(e presence.Event) { mu.Lock(); lists++; mu.Unlock(); users.Apply(e) })
	require.NoError(t, err)
	<-ready
	_, _, err = l2.ReportOnline(ctx, "comet-b", "", nil, []int64{43})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return users.Online(43) }, 10*time.Second, 5*time.Millisecond)
	require.False(t, users.Online(42))
	for range 3 {
		_, _, err = l2.ReportOnline(ctx, "comet-b", "", nil, nil)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return !users.Online(43) }, 10*time.Second, 5*time.Millisecond, "43 left")
	_, _, _ = l1.ReportOnline(ctx, "comet-a", "", nil, nil) // names none, as before: no list
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, lists, "one list naming 43, one empty; none for reports naming nobody")
}
