package aggregate

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// settled waits until the consumer has delivered the whole stream and holds nothing
// unacknowledged.
func settled(t testing.TB, js jetstream.JetStream, durable string) {
	t.Helper()
	eventually(t, func() bool {
		c, err := js.Consumer(context.Background(), "S", durable)
		if err != nil {
			return false
		}
		ci, err := c.Info(context.Background())
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	}, "consumer did not settle")
}

func TestDurableNeedsItsParts(t *testing.T) {
	connect := jetStream(t)
	js, _ := connect()
	db := openSQLite(t)
	sink := newCounterSink(t, db)
	_, err := NewDurable[string](durableConfig(0, ""), js, db, sink, Options{})
	require.Error(t, err)
	_, err = NewDurable[string](durableConfig(0, "c"), nil, db, sink, Options{})
	require.Error(t, err)
	_, err = NewDurable[string](durableConfig(-1, "c"), js, db, sink, Options{})
	require.Error(t, err)
}

// Every event counts once: re-published copies (new sequences, same id) and a full replay by
// a consumer created from scratch are skipped.
func TestDurableAppliesEachEventOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		connect := jetStream(t)
		js, _ := connect()
		sink := newCounterSink(t, db)
		ctx := context.Background()
		d, err := NewDurable[string](durableConfig(20*time.Millisecond, "c"), js, db, sink,
			Options{Name: "t", Registry: prometheus.NewRegistry()})
		require.NoError(t, err)
		require.NoError(t, d.Start(ctx))
		var want int64
		for id := int64(1); id <= 50; id++ {
			publish(t, js, incr{ID: id, Key: "a", N: id})
			want += id
		}
		for id := int64(1); id <= 10; id++ {
			publish(t, js, incr{ID: id, Key: "a", N: id}) // a relay's late re-publish
		}
		publish(t, js, incr{ID: 0, Key: "a", N: 1000}) // no id: terminated, never applied
		settled(t, js, "c")
		require.Equal(t, want, counter(t, db, "a"))
		require.NoError(t, d.Stop(ctx))
		st := d.Stats()
		require.Equal(t, uint64(60), st.Increments)
		require.Equal(t, uint64(10), st.Skipped)

		// A consumer recreated from scratch sees all 60 again and applies none.
		require.NoError(t, js.DeleteConsumer(ctx, "S", "c"))
		d, err = NewDurable[string](durableConfig(20*time.Millisecond, "c"), js, db, sink, Options{})
		require.NoError(t, err)
		require.NoError(t, d.Start(ctx))
		eventually(t, func() bool { return d.Stats().Skipped == 60 }, "replay not skipped")
		require.NoError(t, d.Stop(ctx))
		require.Equal(t, want, counter(t, db, "a"))
		require.Zero(t, d.Stats().KeysWritten)
	})
}

// A redelivery arriving with a lower sequence after higher ones were applied still counts
// once — the case a "skip sequences ≤ the stored one" rule gets wrong.
func TestDurableLateRedelivery(t *testing.T) {
	connect := jetStream(t)
	js, _ := connect()
	db := openSQLite(t)
	sink := newCounterSink(t, db)
	ctx := context.Background()
	d, err := NewDurable[string](durableConfig(time.Hour, "late"), js, db, sink, Options{})
	require.NoError(t, err)
	ev := func(id int64) Event[string] { return Event[string]{ID: id, Deltas: []Delta[string]{{"a", 1}}} }
	acked := 0
	d.Add(1_000_001, ev(2), func() error { acked++; return nil })
	require.NoError(t, d.Flush(ctx))
	d.Add(1_000_000, ev(1), nil)
	d.Add(1_000_002, ev(1), nil) // the same event twice in one batch
	require.NoError(t, d.Flush(ctx))
	d.Add(5, ev(2), nil)
	require.NoError(t, d.Flush(ctx))
	require.Equal(t, int64(2), counter(t, db, "a"))
	require.Equal(t, 1, acked)
	require.Equal(t, uint64(2), d.Stats().Skipped)
	require.Len(t, sink.writes("a"), 2, "a batch of only replays writes nothing")
}

// A failed flush keeps its events unacknowledged and applies them with the next one.
func TestDurableFlushFailureRetries(t *testing.T) {
	connect := jetStream(t)
	js, _ := connect()
	db := openSQLite(t)
	sink := newCounterSink(t, db)
	sink.fail = 2
	var reports []FlushReport
	cfg := durableConfig(20*time.Millisecond, "f")
	cfg.OnFlush = func(r FlushReport) { reports = append(reports, r) }
	d, err := NewDurable[string](cfg, js, db, sink, Options{})
	require.NoError(t, err)
	require.NoError(t, d.Start(context.Background()))
	for id := int64(1); id <= 5; id++ {
		publish(t, js, incr{ID: id, Key: "f", N: 1})
	}
	settled(t, js, "f")
	require.NoError(t, d.Stop(context.Background()))
	require.Equal(t, int64(5), counter(t, db, "f"))
	require.Equal(t, uint64(2), d.Stats().FlushErrors)
	require.Error(t, reports[0].Err)
	last := reports[len(reports)-1]
	require.NoError(t, last.Err)
	require.Equal(t, uint64(5), last.MaxSeq)
}

// A process that dies after committing but before acknowledging, and one that dies holding
// events it never flushed, lose nothing and double nothing: the next process gets their
// messages after the ack wait and the claims decide.
func TestDurableCrashBeforeAck(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		connect := jetStream(t)
		js1, nc1 := connect()
		sink := newCounterSink(t, db)
		ctx := context.Background()
		cfg := durableConfig(50*time.Millisecond, "k")
		crashed := make(chan struct{})
		cfg.OnFlush = func(r FlushReport) {
			if r.Err == nil && r.Applied > 0 {
				select {
				case <-crashed:
				default:
					nc1.Close() // committed, about to ack: the acks are lost
					close(crashed)
				}
			}
		}
		d1, err := NewDurable[string](cfg, js1, db, sink, Options{})
		require.NoError(t, err)
		require.NoError(t, d1.Start(ctx))
		js, _ := connect()
		for id := int64(1); id <= 200; id++ {
			publish(t, js, incr{ID: id, Key: "k", N: 1})
		}
		<-crashed

		d2, err := NewDurable[string](durableConfig(50*time.Millisecond, "k"), js, db, sink, Options{})
		require.NoError(t, err)
		require.NoError(t, d2.Start(ctx))
		settled(t, js, "k")
		require.NoError(t, d2.Stop(ctx))
		require.Equal(t, int64(200), counter(t, db, "k"))
		require.NotZero(t, d2.Stats().Skipped, "the committed but unacknowledged events came back")
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = d1.Stop(stopCtx) // its connection is gone; whatever it still holds is claimed already
		require.Equal(t, int64(200), counter(t, db, "k"))
	})
}
