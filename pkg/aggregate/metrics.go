package aggregate

import (
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are what every mode of the package takes besides its config: a name that tells the
// aggregations of one process apart, a logger and where the metrics go.
type Options struct {
	// Name labels the metrics (label "aggregate") and log lines, e.g. "gift_score".
	Name string
	// Logger receives flush failures; nil = discard.
	Logger *slog.Logger
	// Registry receives the metrics; nil = not registered (they are still counted and
	// readable through Stats).
	Registry prometheus.Registerer
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger.With("aggregate", o.Name)
}

// metrics are shared by the three modes; names start with zhibo_aggregate_ and carry the
// aggregation's name as the const label "aggregate".
type metrics struct {
	increments prometheus.Counter   // increments (or events) taken in
	flushes    prometheus.Counter   // successful flushes that wrote something
	flushErrs  prometheus.Counter   // failed flushes (their deltas are retried)
	keysPer    prometheus.Histogram // keys written by one flush
	keys       prometheus.Counter   // keys written, summed: the sink's row writes
	skipped    prometheus.Counter   // events found already applied (durable mode)
	pending    prometheus.Gauge     // keys (or events) waiting for the next flush

	nIncrements, nFlushes, nFlushErrs, nKeys, nSkipped atomic.Uint64 // mirrors for Stats
}

func (m *metrics) took(n int) {
	m.increments.Add(float64(n))
	m.nIncrements.Add(uint64(n))
}

func (m *metrics) flushed(keys int) {
	m.flushes.Inc()
	m.keysPer.Observe(float64(keys))
	m.keys.Add(float64(keys))
	m.nFlushes.Add(1)
	m.nKeys.Add(uint64(keys))
}

func (m *metrics) failed() {
	m.flushErrs.Inc()
	m.nFlushErrs.Add(1)
}

func (m *metrics) skip(n int) {
	m.skipped.Add(float64(n))
	m.nSkipped.Add(uint64(n))
}

func (m *metrics) stats() Stats {
	return Stats{
		Increments: m.nIncrements.Load(), Flushes: m.nFlushes.Load(), FlushErrors: m.nFlushErrs.Load(),
		KeysWritten: m.nKeys.Load(), Skipped: m.nSkipped.Load(),
	}
}

func newMetrics(o Options) (*metrics, error) {
	cl := prometheus.Labels{"aggregate": o.Name}
	m := &metrics{
		increments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_aggregate_increments_total", ConstLabels: cl,
			Help: "Increments (durable mode: events) taken in by the aggregation.",
		}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_aggregate_flushes_total", ConstLabels: cl,
			Help: "Flushes that wrote folded deltas to the sink.",
		}),
		flushErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_aggregate_flush_errors_total", ConstLabels: cl,
			Help: "Flushes that failed; their deltas stay pending and are retried next window.",
		}),
		keysPer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zhibo_aggregate_keys_per_flush", ConstLabels: cl,
			Help:    "Keys written by one flush (one sink row each).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		keys: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_aggregate_keys_written_total", ConstLabels: cl,
			Help: "Keys written by all flushes: the sink's row writes. Its rate per key is at most one per window.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_aggregate_events_skipped_total", ConstLabels: cl,
			Help: "Events redelivered or re-published after they were applied, acknowledged without applying again.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_aggregate_pending", ConstLabels: cl,
			Help: "Keys (durable mode: events) waiting for the next flush.",
		}),
	}
	if o.Registry == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.increments, m.flushes, m.flushErrs, m.keysPer, m.keys, m.skipped, m.pending} {
		errs = append(errs, o.Registry.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Stats is a snapshot of an aggregation's counters, for tests and status pages.
type Stats struct {
	Increments  uint64 // increments (durable: events) taken in
	Flushes     uint64 // flushes that wrote something
	FlushErrors uint64 // failed flushes
	KeysWritten uint64 // keys written over all flushes
	Skipped     uint64 // durable: events found already applied
}
