package aggregate

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// Pruner deletes applied ids older than Keep from Table every Every, so an applied-id table
// holds only the ids a late copy of an event could still carry.
type Pruner struct {
	DB    *sql.DB
	Table string
	Every time.Duration
	Keep  time.Duration
	Now   func() time.Time // nil = time.Now
	Log   *slog.Logger
}

// Run prunes until stop is closed.
func (p Pruner) Run(stop <-chan struct{}) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		before := now().Add(-p.Keep).UnixMilli()
		if n, err := PruneIDs(context.Background(), p.DB, p.Table, before); err != nil {
			p.Log.Warn("applied ids not pruned, retrying later", "table", p.Table, "err", err)
		} else if n > 0 {
			p.Log.Info("applied ids pruned", "table", p.Table, "count", n)
		}
	}
}
