package aggregate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Flush applies every pending event in one transaction and, once it committed, acknowledges
// their messages. On failure the events stay pending (unacknowledged) for the next attempt.
func (d *Durable[K]) Flush(ctx context.Context) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	taken := d.pending
	d.pending = make(map[uint64]pendingMsg[K], len(taken))
	d.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	b := Batch[K]{Events: make([]Event[K], 0, len(taken))}
	for seq, p := range taken {
		b.MaxSeq = max(b.MaxSeq, seq)
		b.Events = append(b.Events, p.ev)
	}
	slices.SortStableFunc(b.Events, func(x, y Event[K]) int { return cmp.Compare(x.ID, y.ID) })
	b.Events = slices.CompactFunc(b.Events, func(x, y Event[K]) bool { return x.ID == y.ID })

	res, err := d.apply(ctx, b)
	if d.cfg.OnFlush != nil {
		d.cfg.OnFlush(FlushReport{Messages: len(taken), Result: res, MaxSeq: b.MaxSeq, Err: err})
	}
	if err != nil {
		d.m.failed()
		d.mu.Lock()
		for seq, p := range taken {
			if _, newer := d.pending[seq]; !newer {
				d.pending[seq] = p
			}
		}
		n := len(d.pending)
		d.mu.Unlock()
		d.m.pending.Set(float64(n))
		return err
	}
	d.m.flushed(res.Keys)
	d.m.skip(len(taken) - res.Applied)
	for _, p := range taken {
		if p.ack != nil {
			if err := p.ack(); err != nil {
				// Harmless: the redelivery is claimed as applied and skipped.
				d.log.Debug("aggregate ack failed", "event_id", p.ev.ID, "err", err)
			}
		}
	}
	d.mu.Lock()
	n := len(d.pending)
	d.mu.Unlock()
	d.m.pending.Set(float64(n))
	return nil
}

// apply runs the sink in one transaction.
func (d *Durable[K]) apply(ctx context.Context, b Batch[K]) (Result, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("aggregate: begin: %w", err)
	}
	res, err := d.sink.Apply(ctx, tx, b)
	if err != nil {
		_ = tx.Rollback()
		return Result{}, err
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("aggregate: commit: %w", err)
	}
	return res, nil
}
