package queue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

func openEmbedded(t *testing.T, dir string) *Queue {
	q, err := Open(context.Background(), Config{}, dir, obs.Discard())
	require.NoError(t, err)
	return q
}

func TestEmbeddedPublishConsume(t *testing.T) {
	q := openEmbedded(t, t.TempDir())
	defer q.Close()
	require.True(t, q.Embedded())
	roundTrip(t, q, "T"+fmt.Sprint(time.Now().UnixNano()))
}

func TestExternalPublishConsume(t *testing.T) {
	// The server of ZHIBO_TEST_NATS_URL, or one in this process reached over loopback TCP.
	q, err := Open(context.Background(), Config{URL: queuetest.URL(t)}, "", obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	require.False(t, q.Embedded())
	name := "T" + fmt.Sprint(time.Now().UnixNano())
	defer func() { // before q.Close, deferred above, which a t.Cleanup would run after
		require.NoError(t, q.JS.DeleteStream(context.Background(), name))
	}()
	roundTrip(t, q, name)
}

// roundTrip publishes with duplicate ids and checks the durable consumer sees each message once,
// in order, including messages published while it was stopped.
func roundTrip(t *testing.T, q *Queue, stream string) {
	ctx := context.Background()
	subj := stream + ".room.1"
	require.NoError(t, q.EnsureStream(ctx, StreamSpec{Name: stream, Subjects: []string{stream + ".>"}, MaxAge: time.Hour}))
	for i := range 5 {
		require.NoError(t, q.Publish(ctx, subj, []byte(fmt.Sprint(i)), fmt.Sprint("id-", i)))
		require.NoError(t, q.Publish(ctx, subj, []byte(fmt.Sprint(i)), fmt.Sprint("id-", i))) // retry: stored once
	}
	var mu sync.Mutex
	var got []string
	spec := ConsumerSpec{Stream: stream, Durable: "job"}
	stop, err := q.Consume(ctx, spec, func(m Msg) {
		mu.Lock()
		got = append(got, string(m.Data()))
		mu.Unlock()
		_ = m.Ack()
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 5 }, 10*time.Second, 10*time.Millisecond)
	stop()
	require.NoError(t, q.Publish(ctx, subj, []byte("5"), ""))
	stop, err = q.Consume(ctx, spec, func(m Msg) {
		mu.Lock()
		got = append(got, string(m.Data()))
		mu.Unlock()
		_ = m.Ack()
	})
	require.NoError(t, err)
	defer stop()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 6 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	require.Equal(t, []string{"0", "1", "2", "3", "4", "5"}, got)
	mu.Unlock()
}

func TestEmbeddedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	q := openEmbedded(t, dir)
	require.NoError(t, q.EnsureStream(ctx, StreamSpec{Name: "KEEP", Subjects: []string{"keep.>"}}))
	require.NoError(t, q.Publish(ctx, "keep.x", []byte("stored"), ""))
	q.Close()

	q = openEmbedded(t, dir)
	defer q.Close()
	got := make(chan string, 1)
	stop, err := q.Consume(ctx, ConsumerSpec{Stream: "KEEP", Durable: "d"}, func(m Msg) {
		_ = m.Ack()
		got <- string(m.Data())
	})
	require.NoError(t, err)
	defer stop()
	select {
	case v := <-got:
		require.Equal(t, "stored", v)
	case <-time.After(10 * time.Second):
		t.Fatal("message published before restart was not delivered")
	}
}

// The lag of a consumer this process consumes from is on /metrics: messages it has not taken
// yet, and those it holds unacknowledged; a stopped consumer is no longer reported.
func TestConsumerLagMetrics(t *testing.T) {
	q := openEmbedded(t, t.TempDir())
	defer q.Close()
	ctx := context.Background()
	require.NoError(t, q.EnsureStream(ctx, StreamSpec{Name: "LAG", Subjects: []string{"lag.>"}, MaxAge: time.Hour}))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(q.Collector())
	require.Equal(t, 0, testutil.CollectAndCount(q.Collector()), "nothing consumed yet")

	held := make(chan Msg, 10)
	stop, err := q.Consume(ctx, ConsumerSpec{Stream: "LAG", Durable: "slow", MaxPending: 2}, func(m Msg) { held <- m })
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, q.Publish(ctx, "lag.x", []byte(fmt.Sprint(i)), ""))
	}
	require.Eventually(t, func() bool {
		return testutil.CollectAndCompare(q.Collector(), strings.NewReader(`
# HELP zhibo_queue_consumer_ack_pending_messages Messages delivered to the durable consumer and not yet acknowledged.
# TYPE zhibo_queue_consumer_ack_pending_messages gauge
zhibo_queue_consumer_ack_pending_messages{durable="slow",stream="LAG"} 2
# HELP zhibo_queue_consumer_pending_messages Messages of the stream not yet delivered to the durable consumer (its lag), per consumer this process consumes from.
# TYPE zhibo_queue_consumer_pending_messages gauge
zhibo_queue_consumer_pending_messages{durable="slow",stream="LAG"} 3
`), "zhibo_queue_consumer_pending_messages", "zhibo_queue_consumer_ack_pending_messages") == nil
	}, 5*time.Second, 20*time.Millisecond, "2 held unacknowledged (max pending), 3 waiting")
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems, "names follow the Prometheus conventions")
	stop()
	require.Equal(t, 0, testutil.CollectAndCount(q.Collector()))
}

// A stream or bucket already as asked is not updated again (each replica of a component ensures
// them as it starts); one that differs is, and one deleted behind the process's back is made anew.
func TestEnsureUpdatesOnlyWhatDiffers(t *testing.T) {
	q := openEmbedded(t, t.TempDir())
	defer q.Close()
	ctx := context.Background()
	var mu sync.Mutex
	updated := map[string]int{}
	sub, err := q.nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.>", func(m *nats.Msg) {
		mu.Lock()
		updated[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]]++
		mu.Unlock()
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	updates := func(name string) int {
		require.NoError(t, q.nc.Flush())
		time.Sleep(50 * time.Millisecond) // advisories are sent after the API's answer
		mu.Lock()
		defer mu.Unlock()
		return updated[name]
	}

	spec := StreamSpec{Name: "ENS", Subjects: []string{"ens.>"}, MaxAge: time.Hour}
	require.NoError(t, q.EnsureStream(ctx, spec))
	require.NoError(t, q.EnsureStream(ctx, spec))
	short := spec
	short.MaxAge = 30 * time.Second // the default duplicate window follows a shorter age
	require.NoError(t, q.EnsureStream(ctx, short))
	require.NoError(t, q.EnsureStream(ctx, short))
	require.Equal(t, 1, updates("ENS"), "one update, for the changed age")
	st, err := q.JS.Stream(ctx, "ENS")
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, st.CachedInfo().Config.MaxAge)

	require.NoError(t, q.JS.DeleteStream(ctx, "ENS"))
	// Made again at once, the stream may meet the server still removing the deleted one's
	// store ("error creating store for stream", seen once in a full run); it is made once the
	// removal is done.
	require.Eventually(t, func() bool { return q.EnsureStream(ctx, short) == nil }, 5*time.Second, 20*time.Millisecond)
	_, err = q.JS.Stream(ctx, "ENS")
	require.NoError(t, err, "made anew")

	kvSpec := KVSpec{Name: "ens", Memory: true, TTL: time.Minute}
	_, err = q.EnsureKV(ctx, kvSpec)
	require.NoError(t, err)
	kv, err := q.EnsureKV(ctx, kvSpec)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err, "the bucket handle of an untouched bucket works")
	kvSpec.TTL = 2 * time.Minute
	_, err = q.EnsureKV(ctx, kvSpec)
	require.NoError(t, err)
	require.Equal(t, 1, updates("KV_"+q.Stream("ens")), "one update of the bucket's stream, for the changed TTL")
}
