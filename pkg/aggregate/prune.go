package aggregate

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// Pruner deletes applied ids older than Keep from Table, so an applied-id table holds only
// the ids a late copy of an event could still carry. The caller schedules Prune: pruning is
// idempotent, so every process may do it, but one per cluster is enough (zhibo runs it under
// a cluster-wide lease).
type Pruner struct {
	DB    *sql.DB
	Table string
	Keep  time.Duration
	Now   func() time.Time // nil = time.Now
	Log   *slog.Logger
}

// Prune deletes the ids applied more than Keep ago, and logs what it did.
func (p Pruner) Prune(ctx context.Context) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	before := now().Add(-p.Keep).UnixMilli()
	if n, err := PruneIDs(ctx, p.DB, p.Table, before); err != nil {
		p.Log.Warn("applied ids not pruned, retrying later", "table", p.Table, "err", err)
	} else if n > 0 {
		p.Log.Info("applied ids pruned", "table", p.Table, "count", n)
	}
}
