package aggregate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// pullExpiry bounds how long one pull request of the consumer waits for messages.
const pullExpiry = 5 * time.Second

// Sink is where a Durable writes: it decodes messages and applies batches.
type Sink[K comparable] interface {
	// Decode turns a message body into an event. An error means the message can never be
	// applied; it is logged and terminated (not redelivered).
	Decode(data []byte) (Event[K], error)
	// Apply claims the batch's events not applied yet, writes their folded deltas and any
	// bookkeeping, all in tx, which the Durable commits before acknowledging the messages.
	Apply(ctx context.Context, tx *sql.Tx, b Batch[K]) (Result, error)
}

// FlushReport describes one durable flush attempt, for callers keeping their own metrics.
type FlushReport struct {
	Messages int    // messages (stream sequences) in the batch
	Result          // what the sink applied and wrote; zero on error
	MaxSeq   uint64 // highest stream sequence in the batch
	Err      error  // nil when committed and acknowledged
}

// DurableConfig configures a Durable.
type DurableConfig struct {
	// Config sets the window and the pending cap, counted in messages here. Keep the
	// consumer's MaxAckPending at least MaxPending, or the stream stops delivering before
	// the cap is reached and throughput is bounded by MaxAckPending per window.
	Config
	// Stream is the JetStream stream to consume.
	Stream string
	// Consumer is the durable consumer (Durable is required). Its AckPolicy is forced to
	// explicit and DeliverPolicy defaults to all.
	Consumer jetstream.ConsumerConfig
	// OnFlush, when set, is called after every flush attempt that had messages.
	OnFlush func(FlushReport)
}

// Durable consumes increments from a JetStream durable consumer, folds them per window and
// applies each window in one SQL transaction before acknowledging its messages. See the
// package doc for why no acknowledged increment is lost or applied twice.
type Durable[K comparable] struct {
	cfg  DurableConfig
	js   jetstream.JetStream
	db   *sql.DB
	sink Sink[K]
	log  *slog.Logger
	m    *metrics

	mu      sync.Mutex
	pending map[uint64]pendingMsg[K] // by stream sequence: a redelivery replaces its entry
	wake    chan struct{}

	flushMu sync.Mutex // one flush at a time

	runMu   sync.Mutex
	consume jetstream.ConsumeContext // nil when not consuming
	stop    chan struct{}
	done    chan struct{}
}

type pendingMsg[K comparable] struct {
	ev  Event[K]
	ack func() error // nil for events added without a message
}

// NewDurable builds a Durable reading through js and writing to db through sink; it starts
// nothing.
func NewDurable[K comparable](cfg DurableConfig, js jetstream.JetStream, db *sql.DB, sink Sink[K], opts Options) (*Durable[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case js == nil, db == nil, sink == nil:
		return nil, errors.New("aggregate: durable needs a JetStream, a database and a sink")
	case cfg.Stream == "" || cfg.Consumer.Durable == "":
		return nil, errors.New("aggregate: durable needs a stream and a durable consumer name")
	}
	m, err := newMetrics(opts)
	if err != nil {
		return nil, fmt.Errorf("aggregate %s metrics: %w", opts.Name, err)
	}
	cfg.Config = cfg.Config.withDefaults()
	cfg.Consumer.AckPolicy = jetstream.AckExplicitPolicy
	return &Durable[K]{cfg: cfg, js: js, db: db, sink: sink, log: opts.logger(), m: m,
		pending: map[uint64]pendingMsg[K]{}, wake: make(chan struct{}, 1)}, nil
}

// Start creates or updates the consumer, starts consuming and the flush loop.
func (d *Durable[K]) Start(ctx context.Context) error {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.stop != nil {
		return errors.New("aggregate: durable already started")
	}
	cons, err := d.js.CreateOrUpdateConsumer(ctx, d.cfg.Stream, d.cfg.Consumer)
	if err != nil {
		return fmt.Errorf("aggregate: consumer %s/%s: %w", d.cfg.Stream, d.cfg.Consumer.Durable, err)
	}
	batch := 1000
	if mp := d.cfg.Consumer.MaxAckPending; mp > 0 {
		batch = min(batch, mp)
	}
	// A short pull expiry: a pull request lost under load (missed heartbeats) stalls
	// delivery until it expires, 30 s by default.
	cc, err := cons.Consume(d.handle, jetstream.PullMaxMessages(batch), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			d.log.Debug("aggregate consume", "consumer", d.cfg.Consumer.Durable, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("aggregate: consume %s/%s: %w", d.cfg.Stream, d.cfg.Consumer.Durable, err)
	}
	d.consume = cc
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go runLoop(context.WithoutCancel(ctx), d.cfg.Window, d.stop, d.done, d.wake,
		func(ctx context.Context, _ bool) error { return d.Flush(ctx) }, d.log, "aggregate durable")
	return nil
}

// Stop stops deliveries, ends the loop and flushes what was received. Messages not flushed
// (because the final flush failed) are redelivered to the next consumer after their ack wait.
func (d *Durable[K]) Stop(ctx context.Context) error {
	d.runMu.Lock()
	cc, stop, done := d.consume, d.stop, d.done
	d.consume, d.stop, d.done = nil, nil, nil
	d.runMu.Unlock()
	if stop == nil {
		return nil
	}
	cc.Drain()
	close(stop)
	if err := await(ctx, cc.Closed(), done); err != nil {
		return err
	}
	if err := d.Flush(ctx); err != nil {
		return fmt.Errorf("aggregate: final flush: %w", err)
	}
	return nil
}

// handle takes one delivered message.
func (d *Durable[K]) handle(msg jetstream.Msg) {
	md, err := msg.Metadata()
	var ev Event[K]
	if err == nil {
		ev, err = d.sink.Decode(msg.Data())
	}
	if err == nil && ev.ID <= 0 {
		err = fmt.Errorf("event id %d: want > 0", ev.ID)
	}
	if err != nil {
		d.log.Error("aggregate event dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	d.Add(md.Sequence.Stream, ev, msg.Ack)
}

// Add queues an event received as stream sequence seq; ack (may be nil) is called once the
// flush carrying it committed. Consuming calls it for every message; tests and replays may
// call it directly.
func (d *Durable[K]) Add(seq uint64, ev Event[K], ack func() error) {
	d.mu.Lock()
	d.pending[seq] = pendingMsg[K]{ev: ev, ack: ack}
	n := len(d.pending)
	d.mu.Unlock()
	d.m.took(1)
	d.m.pending.Set(float64(n))
	if n >= d.cfg.MaxPending {
		poke(d.wake)
	}
}

// Stats returns the counters.
func (d *Durable[K]) Stats() Stats { return d.m.stats() }

// Pending is the number of messages waiting for a flush.
func (d *Durable[K]) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}
