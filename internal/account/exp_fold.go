package account

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

// The fold of experience: a durable consumer on the EXP stream; each window's events are
// claimed by id in account_exp_applied (aggregate.ClaimIDs) and their per-user sums added to
// users.exp in ONE transaction, acknowledged after the commit. A redelivery after a crash, or
// a re-publish after the duplicate window (gift's outbox relay), finds its id claimed and is
// skipped. Claimed ids are kept longer than the stream keeps events, then pruned.
const (
	expMaxPending   = 100_000
	expAckWait      = 10 * time.Second // redelivery after this long unacknowledged, e.g. after a crash
	expAppliedTable = "account_exp_applied"
	expIDRetention  = expStreamMaxAge + 24*time.Hour // every copy of an event is gone by then
	expPruneEvery   = time.Hour
	expPruneLease   = "account-exp-prune"
)

// expFold runs the durable aggregation of experience.
type expFold struct {
	d      *aggregate.Durable[int64]
	db     *sql.DB
	q      *queue.Queue
	log    *slog.Logger
	now    func() time.Time
	leases *lease.Node
	cancel context.CancelFunc // ends the pruning
	wg     sync.WaitGroup
	folds  *prometheus.CounterVec
}

func newExpFold(q *queue.Queue, db *sql.DB, window time.Duration, log *slog.Logger, reg prometheus.Registerer,
	now func() time.Time, leases *lease.Node) (*expFold, error) {
	f := &expFold{db: db, q: q, log: log, now: now, leases: leases, folds: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_account_exp_events_total", Help: "Experience events folded (applied) or skipped as replays (skipped).",
	}, []string{"result"})}
	if err := reg.Register(f.folds); err != nil {
		return nil, fmt.Errorf("account: exp metrics: %w", err)
	}
	d, err := aggregate.NewDurable[int64](aggregate.DurableConfig{
		Config: aggregate.Config{Window: window, MaxPending: expMaxPending},
		Stream: q.Stream(ExpStreamName),
		Consumer: jetstream.ConsumerConfig{
			Durable: ExpConsumer, FilterSubject: q.Subject(ExpSubjectPrefix + ">"),
			AckWait: expAckWait, MaxAckPending: expMaxPending, DeliverPolicy: jetstream.DeliverAllPolicy,
		},
		OnFlush: f.report,
	}, q.JS, db, expSink{now: now}, aggregate.Options{Name: ExpConsumer, Logger: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	f.d = d
	return f, nil
}

// start ensures the stream, starts consuming and the pruning of old claimed ids. Every
// account process consumes (one durable consumer shares the events out); one per cluster
// prunes, under expPruneLease: the same DELETE from every process would only repeat the work.
func (f *expFold) start(ctx context.Context) error {
	if err := f.q.EnsureStream(ctx, ExpStream(f.q)); err != nil {
		return err
	}
	if err := f.d.Start(ctx); err != nil {
		return err
	}
	pruneCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	pruner := aggregate.Pruner{DB: f.db, Table: expAppliedTable, Keep: expIDRetention, Now: f.now, Log: f.log}
	f.wg.Go(func() { f.leases.Run(pruneCtx, expPruneLease, expPruneEvery, pruner.Prune) })
	return nil
}

// stopFold stops consuming and flushes what was received.
func (f *expFold) stopFold(ctx context.Context) error {
	if f.cancel != nil {
		f.cancel()
		f.wg.Wait()
		f.cancel = nil
	}
	return f.d.Stop(ctx)
}

func (f *expFold) report(r aggregate.FlushReport) {
	if r.Err != nil {
		return
	}
	f.folds.WithLabelValues("applied").Add(float64(r.Applied))
	f.folds.WithLabelValues("skipped").Add(float64(r.Messages - r.Applied))
}

// expSink decodes EXP events and adds the fresh ones to users.exp.
type expSink struct{ now func() time.Time }

func (expSink) Decode(data []byte) (aggregate.Event[int64], error) {
	var ev ExpEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return aggregate.Event[int64]{}, fmt.Errorf("exp event: %w", err)
	}
	if ev.UID <= 0 {
		return aggregate.Event[int64]{}, fmt.Errorf("exp event %d: uid %d", ev.ID, ev.UID)
	}
	return aggregate.Event[int64]{ID: ev.ID, Deltas: []aggregate.Delta[int64]{{Key: ev.UID, N: ev.Delta}}}, nil
}

func (s expSink) Apply(ctx context.Context, tx *sql.Tx, b aggregate.Batch[int64]) (aggregate.Result, error) {
	fresh, err := aggregate.ClaimIDs(ctx, tx, expAppliedTable, b.Events, s.now().UnixMilli())
	if err != nil {
		return aggregate.Result{}, err
	}
	rows, err := addExpTx(ctx, tx, aggregate.Fold(fresh))
	return aggregate.Result{Applied: len(fresh), Keys: rows}, err
}
