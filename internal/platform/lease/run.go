package lease

import (
	"context"
	"time"
)

// Do runs fn if this node holds the lease, and reports whether it ran. fn's context ends when
// the hold does (lost or released), so a long run stops soon after another node may have
// begun. A nil node's lease is always held.
func (l *Lease) Do(ctx context.Context, fn func(context.Context)) bool {
	if l.n == nil {
		fn(ctx)
		return true
	}
	l.mu.Lock()
	if !l.held || !time.Now().Before(l.until) {
		l.mu.Unlock()
		return false
	}
	term := l.term
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(term, cancel)()
	l.n.m.runs.WithLabelValues(l.name).Inc()
	fn(ctx)
	return true
}

// Run runs fn every interval while this node holds the lease name, until ctx ends; then it
// releases the lease. Several nodes running the same name run fn once per interval between
// them (a node that takes the lease over starts its own ticker, so one interval may hold two
// runs, one by each).
func (n *Node) Run(ctx context.Context, name string, every time.Duration, fn func(context.Context)) {
	l := n.Lease(name)
	l.Start(ctx)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseBudget)
		defer cancel()
		if err := l.Stop(stopCtx); err != nil && n != nil {
			n.log.Warn("lease not released; another node takes it over after its ttl", "lease", name, "err", err)
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Do(ctx, fn)
		}
	}
}

// releaseBudget bounds the release when Run ends.
const releaseBudget = 2 * time.Second
