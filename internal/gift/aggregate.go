package gift

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Aggregation of scores.
//
// The durable consumer ScoreConsumer receives every order event. Events are collected for one
// window (or until flushBatch of them wait) and then written in ONE transaction that adds each
// anchor's and each (room, sender)'s summed totals, marks the orders counted, and stores the
// highest stream sequence applied in gift_agg_offsets. Only after the commit are the messages
// acknowledged. A redelivered or re-published event whose order is already counted is
// acknowledged and skipped, so every order counts exactly once across crashes and retries.
//
// The per-order "counted" mark is what decides, not the stored sequence alone: JetStream
// redelivers a message left unacknowledged by a crash only after its ack wait, by which time
// later messages may have been applied, and an event re-published by the outbox relay after
// the stream's duplicate window gets a new sequence. The stored sequence is the consumer's
// progress, exported as a metric. Because the decision is per order, several processes may
// share the consumer safely.
const (
	flushBatch    = 4096             // events that trigger a flush before the window ends
	scoreAckWait  = 30 * time.Second // redelivery after this long unacknowledged
	scoreInFlight = 20000            // unacknowledged events the consumer may hold
)

// pendingEvent is an order event received and not yet flushed.
type pendingEvent struct {
	orderID int64
	ack     func() error // nil for events fed without a queue message
}

type aggregator struct {
	store  Store
	q      *queue.Queue
	window time.Duration
	log    *slog.Logger
	m      *metrics

	mu      sync.Mutex
	pending map[uint64]pendingEvent // by stream sequence; a redelivery replaces its entry
	wake    chan struct{}
	stop    func() // stops the consumer; nil when not consuming

	flushMu sync.Mutex // one flush at a time
	applied uint64     // highest sequence flushed by this process; guarded by flushMu
}

func newAggregator(st Store, q *queue.Queue, window time.Duration, log *slog.Logger, m *metrics) *aggregator {
	return &aggregator{
		store: st, q: q, window: window, log: log, m: m,
		pending: map[uint64]pendingEvent{},
		wake:    make(chan struct{}, 1),
	}
}

// start subscribes the durable consumer and runs the flush loop until ctx ends.
func (a *aggregator) start(ctx context.Context, wg *sync.WaitGroup) error {
	seq, err := a.store.AppliedSeq(ctx, ScoreConsumer)
	if err != nil {
		return err
	}
	a.flushMu.Lock()
	a.applied = max(a.applied, seq)
	a.m.appliedSeq.Set(float64(a.applied))
	a.flushMu.Unlock()
	stop, err := a.q.Consume(ctx, queue.ConsumerSpec{
		Stream: a.q.Stream(StreamName), Durable: ScoreConsumer, Filter: a.q.Subject(SubjectPrefix + ">"),
		AckWait: scoreAckWait, MaxPending: scoreInFlight,
	}, a.handle)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.stop = stop
	a.mu.Unlock()
	wg.Go(func() { a.loop(ctx) })
	return nil
}

// stopConsuming stops deliveries; events already received stay pending for the final flush.
func (a *aggregator) stopConsuming() {
	a.mu.Lock()
	stop := a.stop
	a.stop = nil
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// handle takes one delivered order event.
func (a *aggregator) handle(msg queue.Msg) {
	md, err := msg.Metadata()
	var ev struct {
		ID int64 `json:"id"`
	}
	if err == nil {
		err = json.Unmarshal(msg.Data(), &ev)
	}
	if err == nil && ev.ID <= 0 {
		err = fmt.Errorf("order id %d", ev.ID)
	}
	if err != nil {
		// Not an order event: redelivering it cannot help.
		a.log.Error("gift event dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	a.add(md.Sequence.Stream, ev.ID, msg.Ack)
}

// add queues one event for the next flush.
func (a *aggregator) add(seq uint64, orderID int64, ack func() error) {
	a.mu.Lock()
	a.pending[seq] = pendingEvent{orderID: orderID, ack: ack}
	n := len(a.pending)
	a.mu.Unlock()
	a.m.pendingEvents.Set(float64(n))
	if n >= flushBatch {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

func (a *aggregator) loop(ctx context.Context) {
	t := time.NewTicker(a.window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.wake:
		}
		if err := a.flush(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("gift score flush failed, retrying next window", "err", err)
		}
	}
}

// flush writes every pending event in one transaction and then acknowledges them. On failure
// the events stay pending (unacknowledged) for the next attempt.
func (a *aggregator) flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	batch := a.pending
	a.pending = make(map[uint64]pendingEvent, len(batch))
	a.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	var maxSeq uint64
	orderIDs := make([]int64, 0, len(batch))
	for seq, ev := range batch {
		maxSeq = max(maxSeq, seq)
		orderIDs = append(orderIDs, ev.orderID)
	}
	res, err := a.store.ApplyScores(ctx, ScoreConsumer, maxSeq, orderIDs, time.Now().UnixMilli())
	if err != nil {
		a.m.flushes.WithLabelValues("error").Inc()
		a.mu.Lock()
		for seq, ev := range batch {
			if _, newer := a.pending[seq]; !newer {
				a.pending[seq] = ev
			}
		}
		a.mu.Unlock()
		return err
	}
	a.m.flushes.WithLabelValues("ok").Inc()
	a.m.rowsPerFlush.Observe(float64(res.Rows))
	a.m.folded.Add(float64(res.Orders))
	a.m.skipped.Add(float64(len(batch) - res.Orders))
	if maxSeq > a.applied {
		a.applied = maxSeq
		a.m.appliedSeq.Set(float64(maxSeq))
	}
	for _, ev := range batch {
		if ev.ack != nil {
			if err := ev.ack(); err != nil {
				// Harmless: the redelivery finds the order counted and is skipped.
				a.log.Debug("gift event ack failed", "order_id", ev.orderID, "err", err)
			}
		}
	}
	a.mu.Lock()
	n := len(a.pending)
	a.mu.Unlock()
	a.m.pendingEvents.Set(float64(n))
	return nil
}
