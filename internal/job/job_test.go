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
	at      map[int64][]time.Time // when each batch was handed over
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
	c.at[room] = append(c.at[room], time.Now())
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

// handedAt returns when each batch of room was handed over.
func (c *fakeComet) handedAt(room int64) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at[room]...)
}

func newComet() *fakeComet {
	return &fakeComet{batches: map[int64][][]string{}, at: map[int64][]time.Time{}}
}

func start(t *testing.T, q *queue.Queue, cfg Config, comets ...Comet) *Service {
	s, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Queue: q, Comets: comets})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}

func publish(t testing.TB, q *queue.Queue, room int64, msgs ...string) {
	p := push.Push{Target: push.TargetRoom, RoomID: room}
	for _, m := range msgs {
		p.Msgs = append(p.Msgs, []byte(m))
	}
	require.NoError(t, q.Publish(context.Background(), q.Subject(fmt.Sprint("push.room.", room)), push.Marshal(p), ""))
}

func cfg() Config {
	return Config{Window: 50 * time.Millisecond, MaxBatch: 10, PushTimeout: 2 * time.Second, Durable: "job", MaxPending: 1000, CometQueue: 64,
		RouteStale: 5 * time.Second, AckWait: 30 * time.Second}
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

func TestQuietRoomDoesNotWaitForWindow(t *testing.T) {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "j"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	c := newComet()
	conf := cfg()
	conf.Window = 2 * time.Second // far longer than a hand-over takes, even under -race
	s := start(t, q, conf, c)
	defer s.Stop(context.Background())

	for i, room := range []int64{1, 2, 3} {
		published := time.Now()
		publish(t, q, room, fmt.Sprint("lone-", i))
		require.Eventually(t, func() bool { return len(c.handedAt(room)) == 1 }, 5*time.Second, time.Millisecond)
		require.Less(t, c.handedAt(room)[0].Sub(published), time.Second,
			"a lone message in a quiet room is handed over at once, not after the window")
	}
}

func TestBusyRoomMergesUpToWindow(t *testing.T) {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "j"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	c := newComet()
	conf := cfg()
	conf.Window, conf.MaxBatch = 500*time.Millisecond, 1000
	s := start(t, q, conf, c)
	defer s.Stop(context.Background())

	const n = 40
	var want []string
	for i := range n {
		m := fmt.Sprint("m", i)
		want = append(want, m)
		publish(t, q, 9, m)
	}
	require.Eventually(t, func() bool { got, _ := c.received(9); return len(got) == n }, 10*time.Second, 5*time.Millisecond)
	got, batches := c.received(9)
	require.Equal(t, want, got)
	// The first message leaves at once; the rest of the burst is merged over the windows
	// that follow: a few batches, not one per message.
	require.Less(t, batches, 6)
	at := c.handedAt(9)
	for i := 1; i < len(at); i++ {
		require.Greater(t, at[i].Sub(at[i-1]), conf.Window/2, "a busy room gets at most one batch per window")
	}

	// A window later with nothing sent, the room is quiet again: the next message leaves at once.
	time.Sleep(conf.Window + 100*time.Millisecond)
	published := time.Now()
	publish(t, q, 9, "after")
	require.Eventually(t, func() bool { return len(c.handedAt(9)) == batches+1 }, 5*time.Second, time.Millisecond)
	require.Less(t, c.handedAt(9)[batches].Sub(published), conf.Window/2)
}
