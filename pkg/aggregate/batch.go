package aggregate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Event is one message of the stream as the durable mode sees it: the increments it carries
// and the idempotency id that makes applying it twice detectable.
type Event[K comparable] struct {
	// ID is the same for every copy of one logical increment — a redelivery, or a re-publish
	// that got a new stream sequence — and different for different ones (e.g. an order id).
	ID int64
	// Deltas are the increments; a sink that reads the amounts from its own rows when it
	// claims the event (see Batch) may leave them empty.
	Deltas []Delta[K]
}

// Delta is one increment of one key.
type Delta[K comparable] struct {
	Key K
	N   int64
}

// Batch is what one durable flush hands to the sink, inside the flush's transaction.
type Batch[K comparable] struct {
	// Events are distinct by ID, in ID order. Some may have been applied by an earlier flush
	// (a redelivery after a crash between commit and ack, a late re-publish): the sink must
	// claim them — find those not applied yet and mark them applied in the same transaction —
	// and fold only those. ClaimIDs does that with a table of applied ids; a sink whose events
	// each have a row of their own can keep a flag on that row instead.
	Events []Event[K]
	// MaxSeq is the highest stream sequence in the batch. Storing it is optional (it is the
	// consumer's progress, useful as a metric); it must never decide what is skipped, because
	// redeliveries arrive with lower sequences after higher ones were applied.
	MaxSeq uint64
}

// IDs returns the events' ids in order.
func (b Batch[K]) IDs() []int64 {
	out := make([]int64, len(b.Events))
	for i, e := range b.Events {
		out[i] = e.ID
	}
	return out
}

// Result is what a sink reports about one batch.
type Result struct {
	Applied int // events applied for the first time; the others were skipped as replays
	Keys    int // rows (keys) written: the figure "writes per window" is measured by
}

// Fold sums the deltas of events per key, dropping keys whose sum is zero.
func Fold[K comparable](events []Event[K]) map[K]int64 {
	out := map[K]int64{}
	for _, e := range events {
		for _, d := range e.Deltas {
			out[d.Key] += d.N
		}
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

// idChunk bounds the ids of one IN (...) list or multi-row INSERT.
const idChunk = 500

// AppliedIDsSchema is the DDL of a table ClaimIDs uses, valid on SQLite and MySQL.
func AppliedIDsSchema(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table + " (id BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)"
}

// ClaimIDs returns the events whose id is not in table yet and inserts those ids, stamped
// nowMs, within tx. Two processes claiming the same id concurrently cannot both succeed: the
// primary key makes the second transaction fail (and its flush retry, finding the id claimed).
// Ids must be kept at least as long as a copy of their event can still arrive (the stream's
// max age); PruneIDs removes older ones.
func ClaimIDs[K comparable](ctx context.Context, tx *sql.Tx, table string, events []Event[K], nowMs int64) ([]Event[K], error) {
	seen := map[int64]bool{}
	for c := range slices.Chunk(events, idChunk) {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(c)), ",")
		args := make([]any, len(c))
		for i, e := range c {
			args[i] = e.ID
		}
		rows, err := tx.QueryContext(ctx, "SELECT id FROM "+table+" WHERE id IN ("+ph+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read applied ids: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read applied ids: %w", err)
			}
			seen[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read applied ids: %w", err)
		}
	}
	fresh := make([]Event[K], 0, len(events)-len(seen))
	for _, e := range events {
		if !seen[e.ID] {
			seen[e.ID] = true // a batch holding one id twice claims it once
			fresh = append(fresh, e)
		}
	}
	for c := range slices.Chunk(fresh, idChunk) {
		ph := strings.TrimSuffix(strings.Repeat("(?,?),", len(c)), ",")
		args := make([]any, 0, 2*len(c))
		for _, e := range c {
			args = append(args, e.ID, nowMs)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id, applied_at) VALUES "+ph, args...); err != nil {
			return nil, fmt.Errorf("mark ids applied: %w", err)
		}
	}
	return fresh, nil
}

// PruneIDs deletes the ids applied before beforeMs and returns how many it deleted.
func PruneIDs(ctx context.Context, db *sql.DB, table string, beforeMs int64) (int64, error) {
	res, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE applied_at < ?", beforeMs)
	if err != nil {
		return 0, fmt.Errorf("prune applied ids: %w", err)
	}
	return res.RowsAffected()
}

// AppliedFlushesSchema is the DDL of a table ClaimFlushID uses, valid on SQLite and MySQL.
func AppliedFlushesSchema(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table + " (id VARCHAR(64) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)"
}

// ClaimFlushID records a Redis-mode flush id within tx and reports whether it was new; a
// RedisFlushFunc writes its deltas only when it was. As with ClaimIDs, a concurrent claim of
// the same id makes one of the two transactions fail.
func ClaimFlushID(ctx context.Context, tx *sql.Tx, table, id string, nowMs int64) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("read flush id: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id, applied_at) VALUES (?, ?)", id, nowMs); err != nil {
		return false, fmt.Errorf("record flush id: %w", err)
	}
	return true, nil
}
