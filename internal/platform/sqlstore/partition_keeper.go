package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/every"
)

// PartitionEvery is how often a PartitionKeeper runs after its first pass: months are long,
// so a daily pass keeps Ahead months split off with room for a pass that fails.
const PartitionEvery = 24 * time.Hour

// partitionPassTimeout bounds one pass; a split of an empty pmax and a drop are quick, a
// split that moves rows (see PartitionChange.Moved) copies them and may take minutes.
const partitionPassTimeout = time.Hour

// PartitionKeeper runs MaintainPartitions over a component's partitioned tables: a pass at
// start and one every PartitionEvery, each logged and measured.
type PartitionKeeper struct {
	db       *DB
	log      *slog.Logger
	now      func() time.Time
	tables   []Partitioned
	count    *prometheus.GaugeVec
	failures *prometheus.CounterVec
}

// NewPartitionKeeper checks the tables and registers the metrics (shared by every keeper of
// a registry, labelled by table). now may be nil (time.Now).
func NewPartitionKeeper(db *DB, log *slog.Logger, reg prometheus.Registerer, now func() time.Time, tables ...Partitioned) (*PartitionKeeper, error) {
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return nil, err
		}
	}
	if now == nil {
		now = time.Now
	}
	k := &PartitionKeeper{db: db, log: log, now: now, tables: tables,
		count: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zhibo_sql_partitions", Help: "Partitions of a time-partitioned MySQL table after the last maintenance pass, pmax included.",
		}, []string{"table"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_sql_partition_failures_total", Help: "Maintenance passes of a time-partitioned MySQL table that failed (retried at the next pass).",
		}, []string{"table"}),
	}
	if err := shared(reg, &k.count); err != nil {
		return nil, err
	}
	if err := shared(reg, &k.failures); err != nil {
		return nil, err
	}
	if db.Dialect == MySQL {
		for _, t := range tables {
			k.failures.WithLabelValues(t.Table)
		}
	}
	return k, nil
}

// shared registers c on reg, or points c at the collector of that name already registered
// there (im-chat and im-group in one process measure their tables in the same metrics).
func shared[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if prev, ok := are.ExistingCollector.(C); ok {
			*c = prev
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("partition metrics: %w", err)
	}
	return nil
}

// Pass maintains every table once; a failure is logged and counted, and the next pass retries.
func (k *PartitionKeeper) Pass(ctx context.Context) {
	if k.db.Dialect != MySQL {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, partitionPassTimeout)
	defer cancel()
	for _, t := range k.tables {
		ch, err := k.db.MaintainPartitions(ctx, t, k.now())
		if len(ch.Added) > 0 {
			if ch.Moved {
				k.log.Warn("partitions added; pmax held rows, which were copied into them", "table", t.Table, "added", ch.Added)
			} else {
				k.log.Info("partitions added", "table", t.Table, "added", ch.Added)
			}
		}
		if len(ch.Dropped) > 0 {
			k.log.Info("partitions dropped with their rows", "table", t.Table, "dropped", ch.Dropped, "retention", t.Retention)
		}
		if err != nil {
			k.failures.WithLabelValues(t.Table).Inc()
			k.log.Error("partition maintenance failed; retried at the next pass", "table", t.Table, "err", err)
			continue
		}
		k.count.WithLabelValues(t.Table).Set(float64(ch.Partitions))
	}
}

// Run makes a pass at once and one every PartitionEvery until ctx ends. Each pass goes
// through do, which runs it or not (lease.Lease.Do: only the lease holder of a cluster
// runs it); nil do runs every pass.
func (k *PartitionKeeper) Run(ctx context.Context, do func(context.Context, func(context.Context)) bool) {
	if k.db.Dialect != MySQL {
		return
	}
	pass := func() {
		if do == nil {
			k.Pass(ctx)
			return
		}
		do(ctx, k.Pass)
	}
	pass()
	every.Run(ctx.Done(), PartitionEvery, pass)
}
