package job

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/push"
)

type fakeComet struct {
	mu      sync.Mutex
	batches map[int64][][]string
	users   [][]int64
	delay   time.Duration
}

func (c *fakeComet) PushRoom(ctx context.Context, room int64, msgs [][]byte) error {
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var b []string
	for _, m := range msgs {
		b = append(b, string(m))
	}
	c.batches[room] = append(c.batches[room], b)
	return nil
}

func (c *fakeComet) PushUsers(_ context.Context, uids []int64, _ [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users = append(c.users, uids)
	return nil
}

func (c *fakeComet) Broadcast(context.Context, [][]byte) error { return nil }

func (c *fakeComet) received(room int64) (msgs []string, batches int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.batches[room] {
		msgs = append(msgs, b...)
	}
	return msgs, len(c.batches[room])
}

func newComet() *fakeComet { return &fakeComet{batches: map[int64][][]string{}} }

func start(t *testing.T, q *queue.Queue, cfg Config, comets ...Comet) *Service {
	s, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Queue: q, Comets: comets})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}

func publish(t *testing.T, q *queue.Queue, room int64, msgs ...string) {
	p := push.Push{Target: push.TargetRoom, RoomID: room}
	for _, m := range msgs {
		p.Msgs = append(p.Msgs, []byte(m))
	}
	require.NoError(t, q.Publish(context.Background(), q.Subject(fmt.Sprint("push.room.", room)), push.Marshal(p), ""))
}

func cfg() Config {
	return Config{Window: 50 * time.Millisecond, MaxBatch: 10, PushTimeout: 2 * time.Second, Durable: "job", MaxPending: 1000, CometQueue: 64}
}

func TestMergesInOrderAndSkipsSlowComet(t *testing.T) {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "j"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	fast, slow := newComet(), newComet()
	slow.delay = time.Hour // never answers: must be timed out, not wait for
	s := start(t, q, cfg(), fast, slow)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		stopped := time.Now()
		require.NoError(t, s.Stop(ctx))
		require.Less(t, time.Since(stopped), time.Second, "Stop is bounded by its context, not by the stalled comet")
	}()

	var want []string
	start := time.Now()
	for i := range 25 {
		m := fmt.Sprintf(`{"cmd":"M","i":%d}`, i)
		want = append(want, m)
		publish(t, q, 7, m)
	}
	require.Eventually(t, func() bool { got, _ := fast.received(7); return len(got) == 25 }, 10*time.Second, 5*time.Millisecond)
	// Each batch to the stalled comet waits out its 2s timeout; the fast comet must not.
	require.Less(t, time.Since(start), 1500*time.Millisecond, "the stalled comet held up the fast one")
	got, batches := fast.received(7)
	require.Equal(t, want, got)
	require.Less(t, batches, 25, "messages were merged into batches")
	for _, b := range fast.batches[7] {
		require.LessOrEqual(t, len(b), 10)
	}
	require.NoError(t, q.Publish(context.Background(), q.Subject("push.user"),
		push.Marshal(push.Push{Target: push.TargetUser, UIDs: []int64{3}, Msgs: [][]byte{[]byte("{}")}}), ""))
	require.Eventually(t, func() bool { fast.mu.Lock(); defer fast.mu.Unlock(); return len(fast.users) == 1 }, 5*time.Second, 5*time.Millisecond)
}

func TestDeliversAfterRestart(t *testing.T) {
	dir := t.TempDir()
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "j"}, dir, obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	c := newComet()
	s := start(t, q, cfg(), c)
	publish(t, q, 1, "a")
	require.Eventually(t, func() bool { got, _ := c.received(1); return len(got) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Stop(context.Background()))

	publish(t, q, 1, "b") // published while no job runs
	publish(t, q, 1, "c")
	c2 := newComet()
	s = start(t, q, cfg(), c2)
	defer s.Stop(context.Background())
	require.Eventually(t, func() bool { got, _ := c2.received(1); return len(got) == 2 }, 10*time.Second, 5*time.Millisecond)
	got, _ := c2.received(1)
	require.Equal(t, []string{"b", "c"}, got, "only what was not yet delivered, in order")
}
