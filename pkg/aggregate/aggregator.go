package aggregate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultWindow     = time.Second
	DefaultMaxPending = 100_000
	shardCount        = 32 // a power of two; Add locks one shard
)

// Config sets when an Aggregator or a Durable flushes.
type Config struct {
	// Window is how long increments are folded before the one write per key (0 = 1s).
	Window time.Duration `yaml:"window"`
	// MaxPending caps the keys (Durable: events) waiting for a flush; reaching it flushes
	// before the window ends (0 = 100000). While the sink fails, deltas are kept beyond it.
	MaxPending int `yaml:"max_pending"`
}

// RegisterFlags binds the config to flags named prefix+yaml_name with the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Window, prefix+"window", DefaultWindow,
		"how long increments are folded before one write per key (0 = 1s).")
	fs.IntVar(&c.MaxPending, prefix+"max_pending", DefaultMaxPending,
		"pending keys that trigger a flush before the window ends (0 = 100000).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Window < 0 || c.Window > time.Hour {
		return fmt.Errorf("aggregate window %s: want 0..1h", c.Window)
	}
	if c.MaxPending < 0 {
		return fmt.Errorf("aggregate max_pending %d: must not be negative", c.MaxPending)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	return c
}

// FlushFunc writes one window's folded deltas, one per key, none of them zero. It must apply
// all of them or none (one transaction): on error the Aggregator keeps them and offers them
// again, summed with what arrived since, on the next flush. It must not keep batch.
type FlushFunc[K comparable] func(ctx context.Context, batch map[K]int64) error

// Aggregator folds increments on the same key in memory and writes each key at most once per
// window. It is the in-process mode: an increment is safe once the flush that carries it
// returned nil, so a crash loses what is pending — use Durable when that is not acceptable.
type Aggregator[K comparable] struct {
	cfg    Config
	sink   FlushFunc[K]
	log    *slog.Logger
	m      *metrics
	seed   maphash.Seed
	shards [shardCount]shard[K]

	keys atomic.Int64  // pending keys, approximately
	wake chan struct{} // MaxPending reached

	flushMu sync.Mutex // one flush at a time

	runMu sync.Mutex
	stop  chan struct{} // closed by Stop; nil when not started
	done  chan struct{} // closed when the loop returned
}

type shard[K comparable] struct {
	mu   sync.Mutex
	m    map[K]int64
	adds int      // increments folded since the last flush
	_    [40]byte // keeps hot shards on separate cache lines
}

// New builds an aggregator writing to sink; it starts nothing.
func New[K comparable](cfg Config, sink FlushFunc[K], opts Options) (*Aggregator[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("aggregate: a flush func is required")
	}
	m, err := newMetrics(opts)
	if err != nil {
		return nil, fmt.Errorf("aggregate %s metrics: %w", opts.Name, err)
	}
	a := &Aggregator[K]{cfg: cfg.withDefaults(), sink: sink, log: opts.logger(), m: m,
		seed: maphash.MakeSeed(), wake: make(chan struct{}, 1)}
	for i := range a.shards {
		a.shards[i].m = map[K]int64{}
	}
	return a, nil
}

// Add folds delta into key's pending total. It never blocks on the sink.
func (a *Aggregator[K]) Add(key K, delta int64) {
	s := &a.shards[maphash.Comparable(a.seed, key)&(shardCount-1)]
	s.mu.Lock()
	v, had := s.m[key]
	s.m[key] = v + delta
	s.adds++
	s.mu.Unlock()
	if !had && a.keys.Add(1) >= int64(a.cfg.MaxPending) {
		poke(a.wake)
	}
}

// Pending is the number of keys waiting for a flush (approximate while Adds run).
func (a *Aggregator[K]) Pending() int { return int(max(a.keys.Load(), 0)) }

// Stats returns the aggregator's counters.
func (a *Aggregator[K]) Stats() Stats { return a.m.stats() }

// Start runs the flush loop: one flush per window, or sooner when MaxPending keys wait.
func (a *Aggregator[K]) Start(ctx context.Context) error {
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if a.stop != nil {
		return errors.New("aggregate: already started")
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go runLoop(context.WithoutCancel(ctx), a.cfg.Window, a.stop, a.done, a.wake,
		func(ctx context.Context, _ bool) error { return a.Flush(ctx) }, a.log, "aggregate")
	return nil
}

// Stop ends the loop and flushes what is pending. If that flush fails the deltas stay
// pending and the error is returned; Flush may be called again.
func (a *Aggregator[K]) Stop(ctx context.Context) error {
	a.runMu.Lock()
	stop, done := a.stop, a.done
	a.stop, a.done = nil, nil
	a.runMu.Unlock()
	if stop != nil {
		close(stop)
		if err := await(ctx, done); err != nil {
			return err
		}
	}
	if err := a.Flush(ctx); err != nil {
		return fmt.Errorf("aggregate: final flush: %w", err)
	}
	return nil
}

// Flush writes every pending key now, in one call of the sink. On error the deltas are put
// back and the error returned.
func (a *Aggregator[K]) Flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	var batch map[K]int64
	adds := 0
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		var m map[K]int64
		if len(s.m) > 0 {
			m, s.m = s.m, make(map[K]int64, len(s.m))
		}
		adds += s.adds
		s.adds = 0
		s.mu.Unlock()
		if m == nil {
			continue
		}
		a.keys.Add(-int64(len(m)))
		if batch == nil {
			batch = m
			continue
		}
		for k, d := range m {
			batch[k] += d
		}
	}
	a.m.took(adds)
	for k, d := range batch {
		if d == 0 {
			delete(batch, k) // +1 −1 within a window writes nothing
		}
	}
	a.m.pending.Set(float64(a.Pending()))
	if len(batch) == 0 {
		return nil
	}
	n := len(batch)
	if err := a.sink(ctx, batch); err != nil {
		a.m.failed()
		for k, d := range batch {
			a.restore(k, d)
		}
		a.m.pending.Set(float64(a.Pending()))
		return err
	}
	a.m.flushed(n)
	return nil
}

// restore puts back a delta of a failed flush without counting it as a new increment.
func (a *Aggregator[K]) restore(key K, delta int64) {
	s := &a.shards[maphash.Comparable(a.seed, key)&(shardCount-1)]
	s.mu.Lock()
	v, had := s.m[key]
	s.m[key] = v + delta
	s.mu.Unlock()
	if !had {
		a.keys.Add(1)
	}
}
