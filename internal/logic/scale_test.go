package logic

import (
	"context"
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

	_, err := l1.ReportOnline(ctx, "comet-a", "10.0.0.1:9100", map[int64]int64{7: 3, 8: 1})
	require.NoError(t, err)
	got, err := l2.ReportOnline(ctx, "comet-b", "10.0.0.2:9100", map[int64]int64{7: 4})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c1, _ := l1.Counts(ctx, []int64{7, 8})
		c2, _ := l2.Counts(ctx, []int64{7, 8})
		return c1[7].Online == 7 && c2[7].Online == 7 && c1[8].Online == 1 && c2[8].Online == 1
	}, 10*time.Second, 5*time.Millisecond, "both logics see both comets")
	require.LessOrEqual(t, got[7], int64(7))

	// A join through l1 reaches a job's view (here: l2's watch) without waiting for a report.
	api, err := NewAPI(Config{ConnTokenTTL: time.Minute}, APIDeps{Logger: obs.Discard(), Signer: l1.deps.Signer,
		Accounts: fakeAccounts{}, Pusher: l1.deps.Publisher, RoomExists: func(context.Context, int64) error { return nil }})
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
