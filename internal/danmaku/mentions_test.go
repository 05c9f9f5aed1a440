package danmaku_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// A stored comment with an '@' goes on the MENTIONS stream, once, as the comment it is; one
// without goes on no stream but its room's push.
func TestCommentsNamingSomeoneArePublished(t *testing.T) {
	ctx := context.Background()
	url := queuetest.URL(t)
	q, err := queue.Open(ctx, queue.Config{URL: url, Namespace: queuetest.Namespace(t, url, "mentions")}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	gen, err := ids.New(1)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	svc, err := danmaku.New(danmaku.DefaultConfig(), danmaku.Deps{
		Logger: obs.Discard(), Registry: reg, DB: sqltest.OpenSQLite(t), IDs: gen,
		Rooms:    &fakeRooms{rooms: map[int64]room.Room{room1: {ID: room1, OwnerUID: anchor}}},
		Accounts: accounttest.New(map[int64]string{alice: "alice"}), Pusher: &pushtest.Recorder{}, Queue: q,
	})
	require.NoError(t, err)
	require.NoError(t, svc.Start(ctx))
	t.Cleanup(func() { require.NoError(t, svc.Stop(ctx)) })

	_, err = svc.Send(ctx, room1, alice, "nobody named", 0, 0, 0)
	require.NoError(t, err)
	id, err := svc.Send(ctx, room1, alice, "hi @bob", 0, 0, 0)
	require.NoError(t, err)

	var mu sync.Mutex
	var got []danmaku.Mention
	stop, err := q.Consume(ctx, queue.ConsumerSpec{Stream: q.Stream(danmaku.MentionStreamName), Durable: "test",
		AckWait: 5 * time.Second, MaxPending: 10}, func(m queue.Msg) {
		var c danmaku.Mention
		require.NoError(t, json.Unmarshal(m.Data(), &c))
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		_ = m.Ack()
	})
	require.NoError(t, err)
	defer stop()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // nothing else arrives
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1)
	require.Equal(t, danmaku.Mention{ID: id, RoomID: room1, UID: alice, Uname: "alice", Text: "hi @bob", Ts: got[0].Ts}, got[0])
	require.Positive(t, got[0].Ts)
	require.Equal(t, 1.0, counterValue(t, reg, "zhibo_danmaku_mentions_published_total", "ok"))
	require.Zero(t, counterValue(t, reg, "zhibo_danmaku_mentions_published_total", "error"))
}

// counterValue is the value of counter name with the label result.
func counterValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{result=%q}", name, result)
	return 0
}
