package gift

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

// Aggregation of scores, through the durable mode of pkg/aggregate.
//
// The durable consumer ScoreConsumer receives every order event. Events are collected for one
// window (or until scoreMaxPending of them wait) and then written in ONE transaction that adds
// each anchor's and each (room, sender)'s summed totals, marks the orders counted, and stores
// the highest stream sequence applied in gift_agg_offsets. Only after the commit are the
// messages acknowledged. A redelivered or re-published event whose order is already counted
// is acknowledged and skipped, so every order counts exactly once across crashes and retries.
//
// The per-order "counted" mark is what decides, not the stored sequence alone: JetStream
// redelivers a message left unacknowledged by a crash only after its ack wait, by which time
// later messages may have been applied, and an event re-published by the outbox relay after
// the stream's duplicate window gets a new sequence. The stored sequence is the consumer's
// progress, exported as a metric. Because the decision is per order, several processes may
// share the consumer safely.
//
// The window, not a count of events, bounds the writes: a storm on one anchor still writes
// its score row once per window, so the consumer may hold a whole window of events
// unacknowledged (scoreInFlight) before the early flush at scoreMaxPending.
const (
	scoreMaxPending = 200_000          // events that trigger a flush before the window ends
	scoreInFlight   = scoreMaxPending  // unacknowledged events the consumer may hold
	scoreAckWait    = 10 * time.Second // redelivery after this long unacknowledged, e.g. after a crash
)

// aggregator folds order events into scores. Its events carry only the order id: the amounts
// are read from the order rows when they are claimed, in the flush's transaction.
type aggregator struct {
	store Store
	d     *aggregate.Durable[rankKey]
	m     *metrics

	applied uint64 // highest sequence known applied; written by start and by flushes (serial)
	// touched are the rooms the flush under way changed; onRanks is told of them once the
	// flush has committed (flushes are serial).
	touched []int64
	onRanks func(rooms []int64)
}

func newAggregator(st Store, db *sql.DB, q *queue.Queue, window time.Duration, log *slog.Logger,
	reg prometheus.Registerer, m *metrics) (*aggregator, error) {
	a := &aggregator{store: st, m: m}
	d, err := aggregate.NewDurable[rankKey](aggregate.DurableConfig{
		Config: aggregate.Config{Window: window, MaxPending: scoreMaxPending},
		Stream: q.Stream(StreamName),
		Consumer: jetstream.ConsumerConfig{
			Durable: ScoreConsumer, FilterSubject: q.Subject(SubjectPrefix + ">"),
			AckWait: scoreAckWait, MaxAckPending: scoreInFlight, DeliverPolicy: jetstream.DeliverAllPolicy,
		},
		OnFlush: a.report,
	}, q.JS, db, scoreSink{store: st, agg: a}, aggregate.Options{Name: ScoreConsumer, Logger: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	a.d = d
	return a, nil
}

// start exports the stored progress and starts consuming.
func (a *aggregator) start(ctx context.Context) error {
	seq, err := a.store.AppliedSeq(ctx, ScoreConsumer)
	if err != nil {
		return err
	}
	a.applied = max(a.applied, seq)
	a.m.appliedSeq.Set(float64(a.applied))
	return a.d.Start(ctx)
}

// stop stops consuming and flushes what was received.
func (a *aggregator) stop(ctx context.Context) error { return a.d.Stop(ctx) }

// add queues one order event as if delivered with stream sequence seq.
func (a *aggregator) add(seq uint64, orderID int64, ack func() error) {
	a.d.Add(seq, aggregate.Event[rankKey]{ID: orderID}, ack)
}

// flush writes every pending event now.
func (a *aggregator) flush(ctx context.Context) error { return a.d.Flush(ctx) }

// report keeps the gift metrics of each flush.
func (a *aggregator) report(r aggregate.FlushReport) {
	touched := a.touched
	a.touched = nil
	if r.Err == nil && len(touched) > 0 && a.onRanks != nil {
		a.onRanks(touched)
	}
	if r.Err != nil {
		a.m.flushes.WithLabelValues("error").Inc()
		return
	}
	a.m.flushes.WithLabelValues("ok").Inc()
	a.m.rowsPerFlush.Observe(float64(r.Keys))
	a.m.folded.Add(float64(r.Applied))
	a.m.skipped.Add(float64(r.Messages - r.Applied))
	a.m.pendingEvents.Set(float64(a.d.Pending()))
	if r.MaxSeq > a.applied {
		a.applied = r.MaxSeq
		a.m.appliedSeq.Set(float64(r.MaxSeq))
	}
}

// scoreSink decodes order events and applies them to the score tables.
type scoreSink struct {
	store Store
	agg   *aggregator
}

func (scoreSink) Decode(data []byte) (aggregate.Event[rankKey], error) {
	var ev struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return aggregate.Event[rankKey]{}, fmt.Errorf("order event: %w", err)
	}
	return aggregate.Event[rankKey]{ID: ev.ID}, nil
}

func (s scoreSink) Apply(ctx context.Context, tx *sql.Tx, b aggregate.Batch[rankKey]) (aggregate.Result, error) {
	res, err := s.store.ApplyScoresTx(ctx, tx, ScoreConsumer, b.MaxSeq, b.IDs(), time.Now().UnixMilli())
	s.agg.touched = res.Rooms
	return aggregate.Result{Applied: res.Orders, Keys: res.Rows}, err
}
