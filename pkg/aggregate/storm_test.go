package aggregate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// Storm parameters: the gift storm of the design, 100 k increments/s on one key, for a few
// seconds in the test suite (ZHIBO_STORM_SECONDS overrides, e.g. 10 for the README figures).
const (
	stormRate   = 100_000
	stormWindow = time.Second
)

func stormSeconds() int {
	if n, err := strconv.Atoi(os.Getenv("ZHIBO_STORM_SECONDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// pace calls emit(n) every 10 ms with the number of increments due to keep rate per second,
// for d, and returns how many it emitted.
func pace(d time.Duration, rate int, emit func(n int)) int {
	const tick = 10 * time.Millisecond
	start := time.Now()
	sent := 0
	t := time.NewTicker(tick)
	defer t.Stop()
	for now := range t.C {
		el := now.Sub(start)
		if el >= d {
			break
		}
		due := int(el.Seconds()*float64(rate)) - sent
		if due > 0 {
			emit(due)
			sent += due
		}
	}
	return sent
}

// maxPerWindow is the largest number of writes within one window-long bucket from start.
func maxPerWindow(ts []time.Time, start time.Time, window time.Duration) int {
	b := map[int64]int{}
	best := 0
	for _, t := range ts {
		i := int64(t.Sub(start) / window)
		b[i]++
		best = max(best, b[i])
	}
	return best
}

// TestStormInMemory: 100 k increments/s on one key through the in-memory Aggregator with a
// 1 s window — one write per window, exact total.
func TestStormInMemory(t *testing.T) {
	sink := newMemSink[string]()
	var writes []time.Time
	a, err := New(Config{Window: stormWindow}, func(ctx context.Context, b map[string]int64) error {
		writes = append(writes, time.Now())
		return sink.flush(ctx, b)
	}, Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	d := time.Duration(stormSeconds()) * time.Second
	start := time.Now()
	sent := pace(d, stormRate, func(n int) {
		for range n {
			a.Add("anchor", 1)
		}
	})
	elapsed := time.Since(start)
	require.NoError(t, a.Stop(context.Background()))
	require.Equal(t, int64(sent), sink.total("anchor"))
	windows := int(elapsed/stormWindow) + 1
	t.Logf("in-memory storm: %d increments in %s (%.0f/s) on one key -> %d writes (%d windows, max %d in one window)",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), len(writes), windows, maxPerWindow(writes, start, stormWindow))
	require.LessOrEqual(t, len(writes), windows+1, "one write per window plus the final flush")
}

// TestStormDurable: the gift storm through JetStream and the durable mode into SQL (SQLite,
// and MySQL when configured): the increments are published at up to 100 k/s, the key is
// written once per window, and its total is exact.
func TestStormDurable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		connect := jetStream(t)
		js, _ := connect()
		sink := newCounterSink(t, db)
		cfg := durableConfig(stormWindow, "storm")
		cfg.MaxPending = 4 * stormRate // the window, not the cap, decides
		cfg.Consumer.MaxAckPending = cfg.MaxPending
		cfg.Consumer.AckWait = time.Minute
		d, err := NewDurable[string](cfg, js, db, sink, Options{})
		require.NoError(t, err)
		ctx := context.Background()
		require.NoError(t, d.Start(ctx))
		id := int64(0)
		start := time.Now()
		sent := pace(time.Duration(stormSeconds())*time.Second, stormRate, func(n int) {
			for range n {
				id++
				raw, _ := json.Marshal(incr{ID: id, Key: "anchor", N: 1})
				for {
					_, err := js.PublishAsync("s.anchor", raw)
					if err == nil {
						break
					}
					if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
						t.Error(err)
						return
					}
					<-js.PublishAsyncComplete() // the producer outran the stream: slow down
				}
			}
		})
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			t.Fatal("publishes not acknowledged")
		}
		published := time.Since(start)
		untilApplied(t, func() int64 { return counter(t, db, "anchor") }, int64(sent), 20*time.Second)
		applied := time.Since(start)
		require.NoError(t, d.Stop(ctx))
		require.Equal(t, int64(sent), counter(t, db, "anchor"))
		w := sink.writes("anchor")
		windows := int(applied/stormWindow) + 1
		t.Logf("durable storm: %d increments published in %s (%.0f/s), applied after %s -> %d row writes (%d windows, max %d in one window), %d flushes",
			sent, published.Round(time.Millisecond), float64(sent)/published.Seconds(), applied.Round(time.Millisecond),
			len(w), windows, maxPerWindow(w, start, stormWindow), d.Stats().Flushes)
		require.LessOrEqual(t, len(w), windows+1, "one write per window plus the final flush")
	})
}

// BenchmarkDurableEvents is the durable mode's throughput end to end: events published to
// JetStream, folded and applied to SQLite, acknowledged. ns/op is per event.
func BenchmarkDurableEvents(b *testing.B) {
	connect := jetStream(b)
	js, _ := connect()
	db := openSQLite(b)
	sink := newCounterSink(b, db)
	cfg := durableConfig(100*time.Millisecond, "bench")
	cfg.Consumer.AckWait = time.Minute
	d, err := NewDurable[string](cfg, js, db, sink, Options{})
	require.NoError(b, err)
	require.NoError(b, d.Start(context.Background()))
	defer func() { require.NoError(b, d.Stop(context.Background())) }()
	b.ResetTimer()
	for i := range b.N {
		raw, _ := json.Marshal(incr{ID: int64(i + 1), Key: "k" + strconv.Itoa(i%16), N: 1})
		for {
			_, err := js.PublishAsync("s.k", raw)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	require.Eventually(b, func() bool { return d.Stats().Increments >= uint64(b.N) && d.Pending() == 0 },
		120*time.Second, time.Millisecond)
}

// untilApplied waits while the applied total moves toward want. A loaded machine (the race
// detector, packages tested in parallel) slows the consumer several times over, so what is
// bounded is a stall, not the whole drain.
func untilApplied(t *testing.T, applied func() int64, want int64, stall time.Duration) {
	t.Helper()
	last, since := applied(), time.Now()
	for last != want {
		require.Less(t, time.Since(since), stall, "applied %d of %d, then nothing for %s", last, want, stall)
		time.Sleep(50 * time.Millisecond)
		if n := applied(); n != last {
			last, since = n, time.Now()
		}
	}
}
