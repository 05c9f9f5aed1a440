// Package lease lets one node of a cluster at a time do work that must run once per cluster
// (refreshes, relays, pruning). A lease is a key in a JetStream key-value bucket naming its
// holder; every write is a compare-and-set on the key's revision (Create, or Update with the
// revision last seen), so two nodes never both win it.
//
// The holder renews the key every Renew and holds it until TTL after the start of its last
// successful renewal, by its own clock; past that it stops acting even if it cannot tell why
// (fencing: work runs only after checking Held). Another node takes the lease over when it has
// seen the same revision for TTL by its own clock: that revision was written after the holder
// started writing it, so the holder's hold ended first. No clock is compared across nodes.
// Stop releases the key (a delete on the revision still held), and a waiting node creates it
// within one Renew.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// bucket is the key-value bucket of leases within the queue's namespace. It lives in the
// servers' memory: losing it (every server restarted) only makes the nodes contend again —
// each node opens the bucket anew after an error that is not about the key (dropKV) — and an
// embedded server restarted after a crash does not keep the dead process's holds.
var bucket = queue.KVSpec{Name: "leases", Memory: true, MaxBytes: 1 << 20}

// Deps are what a node needs.
type Deps struct {
	Queue    *queue.Queue // the cluster's shared queue (embedded: a cluster of one process)
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// ID names this node in the bucket; empty = host name, process id and a random suffix.
	ID string
}

// Node is this process in the cluster's lease bucket. A nil *Node is a process alone: its
// leases are always held (a process without a queue, and tests of one component).
type Node struct {
	cfg Config
	q   *queue.Queue
	log *slog.Logger
	id  string
	m   *metrics

	kvMu sync.Mutex
	kv   jetstream.KeyValue // nil until the bucket was first reached
}

// New builds a node; it reaches the queue only when a lease starts.
func New(cfg Config, deps Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Queue == nil || deps.Logger == nil || deps.Registry == nil {
		return nil, errors.New("lease: Queue, Logger and Registry are required")
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("lease metrics: %w", err)
	}
	id := deps.ID
	if id == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		id = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	return &Node{cfg: cfg, q: deps.Queue, log: deps.Logger, id: id, m: m}, nil
}

// ID is this node's name in the bucket (the value of every key it holds).
func (n *Node) ID() string { return n.id }

// bucket opens the lease bucket, creating it on first use.
func (n *Node) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	n.kvMu.Lock()
	defer n.kvMu.Unlock()
	if n.kv != nil {
		return n.kv, nil
	}
	kv, err := n.q.EnsureKV(ctx, bucket)
	if err != nil {
		return nil, err
	}
	n.kv = kv
	return kv, nil
}

// dropKV forgets the bucket handle after an error that is not about the key (the queue lost the
// bucket, say), so the next step opens the bucket again, creating it if it is gone.
func (n *Node) dropKV() {
	n.kvMu.Lock()
	n.kv = nil
	n.kvMu.Unlock()
}

// Lease is the named lease as seen from this node. Start contends for it; Stop releases it.
type Lease struct {
	name string
	n    *Node // nil: always held

	mu      sync.Mutex
	held    bool
	until   time.Time          // the hold ends here unless renewed (monotonic clock)
	term    context.Context    // ends with the current hold
	endTerm context.CancelFunc // ends term
	rev     uint64             // revision of this node's last write while held

	// Contender state, used by the loop goroutine only.
	seenRev uint64    // the key's revision last seen held by another node
	seenAt  time.Time // when seenRev was first seen

	runMu   sync.Mutex // Start and Stop
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// Lease returns the lease name (letters, digits, '-', '_' and '.'), not yet started.
func (n *Node) Lease(name string) *Lease {
	if n != nil {
		n.m.held.WithLabelValues(name).Set(0)
	}
	return &Lease{name: name, n: n}
}

// Held reports whether this node holds the lease now. Work meant to run once per cluster
// checks it right before it runs (Do does).
func (l *Lease) Held() bool {
	if l.n == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held && time.Now().Before(l.until)
}

// Start makes a first attempt at the lease, so a lone node holds it when Start returns, and
// keeps contending (or renewing) until Stop. A queue it cannot reach is retried every Renew.
func (l *Lease) Start(ctx context.Context) {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.n == nil || l.started {
		return
	}
	l.started = true
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel, l.done = cancel, make(chan struct{})
	l.step(ctx)
	go l.loop(loopCtx)
}

// Stop stops renewing and releases the lease if this node holds it; later calls do nothing.
func (l *Lease) Stop(ctx context.Context) error {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.n == nil || !l.started || l.stopped {
		return nil
	}
	l.stopped = true
	l.cancel()
	<-l.done
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.mu.Unlock()
	if !held {
		return nil
	}
	l.end("released", "stopped")
	kv, err := l.n.bucket(ctx)
	if err == nil {
		// Only the revision this node wrote: a key another node took meanwhile stays.
		err = kv.Delete(ctx, l.name, jetstream.LastRevision(rev))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("lease %s: release: %w", l.name, err)
	}
	return nil
}

// loop renews while held and contends otherwise, waking every Renew — and when the hold ends
// or a seen revision ages past TTL, so neither waits for the next renewal.
func (l *Lease) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTimer(l.next())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.step(ctx)
		t.Reset(l.next())
	}
}

// next is how long the loop sleeps before its next step.
func (l *Lease) next() time.Duration {
	d := l.n.cfg.Renew
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.held:
		d = min(d, l.until.Sub(now))
	case l.seenRev != 0:
		d = min(d, l.seenAt.Add(l.n.cfg.TTL).Sub(now))
	}
	return max(d, time.Millisecond)
}

// step is one renewal or one attempt, each call bounded by Renew.
func (l *Lease) step(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.n.cfg.Renew)
	defer cancel()
	l.mu.Lock()
	held, expired := l.held, !time.Now().Before(l.until)
	l.mu.Unlock()
	if held && expired {
		l.end("lost", "not renewed within ttl")
		held = false
	}
	kv, err := l.n.bucket(ctx)
	if err != nil {
		l.n.log.Warn("lease bucket unreachable, retrying", "lease", l.name, "err", err)
		return
	}
	if held {
		l.renew(ctx, kv)
	} else {
		l.contend(ctx, kv)
	}
}

// renew rewrites the key on the revision this node last wrote.
func (l *Lease) renew(ctx context.Context, kv jetstream.KeyValue) {
	sent := time.Now()
	rev, err := kv.Update(ctx, l.name, []byte(l.n.id), l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// An earlier renewal may have been stored with its answer lost: the key then still
		// names this node (no other node writes this node's id), at a newer revision.
		if e, gerr := kv.Get(ctx, l.name); gerr == nil && string(e.Value()) == l.n.id {
			sent = time.Now()
			rev, err = kv.Update(ctx, l.name, []byte(l.n.id), e.Revision())
		}
	}
	switch {
	case err == nil:
		l.mu.Lock()
		l.rev, l.until = rev, sent.Add(l.n.cfg.TTL)
		l.mu.Unlock()
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
		l.end("lost", "taken by another node")
	default:
		// Still held until l.until; the next step retries, or finds the hold over.
		l.n.log.Warn("lease renewal failed", "lease", l.name, "err", err)
		l.n.dropKV()
	}
}

// contend creates a free key, or takes over one whose revision has not moved for TTL.
func (l *Lease) contend(ctx context.Context, kv jetstream.KeyValue) {
	e, err := kv.Get(ctx, l.name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		sent := time.Now()
		rev, err := kv.Create(ctx, l.name, []byte(l.n.id))
		if err == nil {
			l.acquire(rev, sent, "")
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			l.n.log.Warn("lease not created", "lease", l.name, "err", err)
			l.n.dropKV()
		}
	case err != nil:
		l.n.log.Warn("lease not read", "lease", l.name, "err", err)
		l.n.dropKV()
	case e.Revision() != l.seenRev:
		l.seenRev, l.seenAt = e.Revision(), time.Now()
	case time.Since(l.seenAt) >= l.n.cfg.TTL:
		sent := time.Now()
		rev, err := kv.Update(ctx, l.name, []byte(l.n.id), l.seenRev)
		if err == nil {
			l.acquire(rev, sent, string(e.Value()))
		} else if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			l.n.log.Warn("lease not taken over", "lease", l.name, "err", err)
			l.n.dropKV()
		}
	}
}

// acquire starts a hold from the revision this node just wrote, sent at sent.
func (l *Lease) acquire(rev uint64, sent time.Time, from string) {
	l.mu.Lock()
	l.held, l.rev, l.until = true, rev, sent.Add(l.n.cfg.TTL)
	l.term, l.endTerm = context.WithCancel(context.Background())
	l.seenRev = 0
	// Counted under l.mu, like the hold itself: whoever sees the hold (Held, Do) sees it counted.
	l.n.m.held.WithLabelValues(l.name).Set(1)
	l.n.m.changes.WithLabelValues(l.name, "acquired").Inc()
	l.mu.Unlock()
	if from != "" {
		l.n.log.Info("lease acquired", "lease", l.name, "node", l.n.id, "taken_over_from", from)
	} else {
		l.n.log.Info("lease acquired", "lease", l.name, "node", l.n.id)
	}
}

// end finishes the current hold: change is "lost" or "released".
func (l *Lease) end(change, reason string) {
	l.mu.Lock()
	if !l.held {
		l.mu.Unlock()
		return
	}
	l.held = false
	l.endTerm()
	l.n.m.held.WithLabelValues(l.name).Set(0)
	l.n.m.changes.WithLabelValues(l.name, change).Inc()
	l.mu.Unlock()
	if change == "lost" {
		l.n.log.Warn("lease lost", "lease", l.name, "node", l.n.id, "reason", reason)
	} else {
		l.n.log.Info("lease released", "lease", l.name, "node", l.n.id)
	}
}
