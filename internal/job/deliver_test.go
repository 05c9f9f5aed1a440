package job

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/push"
)

// stuckComet takes every push and never answers (until the push's deadline).
type stuckComet struct{ got chan struct{} }

func (c stuckComet) PushRoom(ctx context.Context, _ int64, _ [][]byte) error {
	select {
	case c.got <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}
func (c stuckComet) PushUsers(ctx context.Context, _ []int64, _ [][]byte) error {
	<-ctx.Done()
	return ctx.Err()
}
func (c stuckComet) Broadcast(ctx context.Context, _ [][]byte) error { <-ctx.Done(); return ctx.Err() }

// A job that dies after taking a message and before its comet took the batch loses nothing:
// the message was not acknowledged, so the next job delivers it.
func TestJobKilledBeforeDeliveryLosesNothing(t *testing.T) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "deliver")
	open := func() *queue.Queue {
		q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: ns}, "", obs.Discard())
		require.NoError(t, err)
		return q
	}
	c := cfg()
	c.PushTimeout, c.CometDeadAfter = time.Minute, time.Minute
	c.AckWait = 3 * time.Second // shorter than the stuck push, so the test does not wait a minute
	q1 := open()
	stuck := stuckComet{got: make(chan struct{}, 1)}
	s1, err := New(c, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Queue: q1, Comets: []Comet{stuck}})
	require.NoError(t, err)
	require.NoError(t, s1.Start(context.Background()))
	publish(t, q1, 4, "survives")
	select {
	case <-stuck.got: // the batch is in the comet's hands, undelivered
	case <-time.After(10 * time.Second):
		t.Fatal("the first job never tried the comet")
	}
	q1.Close() // the job's process dies: its connection is gone, nothing more is acknowledged
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = s1.Stop(ctx)
	}()

	q2 := open()
	defer q2.Close()
	good := newComet()
	s2, err := New(c, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Queue: q2, Comets: []Comet{good}})
	require.NoError(t, err)
	require.NoError(t, s2.Start(context.Background()))
	defer s2.Stop(context.Background())
	require.Eventually(t, func() bool { g, _ := good.received(4); return len(g) == 1 && g[0] == "survives" },
		20*time.Second, 10*time.Millisecond, "the next job delivers what the dead one held")
}

// A stalled comet holds nothing up: the healthy comet gets every batch at once, and the
// messages are acknowledged once the stalled comet is declared dead (comet_dead_after), not
// redelivered to the healthy one.
func TestStalledCometIsDeclaredDead(t *testing.T) {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "stall"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	c := cfg()
	c.PushTimeout, c.CometDeadAfter = 200*time.Millisecond, 2*time.Second
	stuck, good := stuckComet{got: make(chan struct{}, 1)}, newComet()
	reg := prometheus.NewRegistry()
	s, err := New(c, Deps{Logger: obs.Discard(), Registry: reg, Queue: q, Comets: []Comet{stuck, good}})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	}()
	start := time.Now()
	for _, m := range []string{"a", "b", "c"} {
		publish(t, q, 6, m)
	}
	require.Eventually(t, func() bool { g, _ := good.received(6); return len(g) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Less(t, time.Since(start), c.CometDeadAfter, "the healthy comet did not wait for the stalled one")
	pending := func() int {
		info, err := q.JS.Consumer(context.Background(), q.Stream(push.Stream), c.Durable)
		require.NoError(t, err)
		ci, err := info.Info(context.Background())
		require.NoError(t, err)
		return ci.NumAckPending
	}
	require.Positive(t, pending(), "unacknowledged while the stalled comet may still take them")
	require.Eventually(t, func() bool { return pending() == 0 }, 10*time.Second, 20*time.Millisecond,
		"acknowledged once the stalled comet is declared dead")
	g, _ := good.received(6)
	require.Len(t, g, 3, "nothing was delivered twice")
	require.EqualValues(t, 1, counterValue(t, reg, "zhibo_job_comet_deaths_total"))
}

func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}
