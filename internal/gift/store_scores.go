package gift

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

type rankKey struct{ room, uid int64 }

func (s *sqlStore) ApplyScores(ctx context.Context, consumer string, seq uint64, orderIDs []int64, nowMs int64) (flushResult, error) {
	var res flushResult
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.ApplyScoresTx(ctx, tx, consumer, seq, orderIDs, nowMs)
		return err
	})
	return res, err
}

func (s *sqlStore) ApplyScoresTx(ctx context.Context, tx *sql.Tx, consumer string, seq uint64, orderIDs []int64, nowMs int64) (flushResult, error) {
	var res flushResult
	err := func() error {
		// The offset row is written first: its lock serializes flushes from every process, so
		// the check-and-mark of orders below cannot race with another flush.
		if _, err := tx.ExecContext(ctx, s.db.Upsert("gift_agg_offsets",
			[]string{"consumer", "seq", "updated_at"}, []string{"consumer"},
			"seq = CASE WHEN EXCLUDED(seq) > seq THEN EXCLUDED(seq) ELSE seq END",
			"updated_at = EXCLUDED(updated_at)"), consumer, int64(seq), nowMs); err != nil {
			return fmt.Errorf("store offset: %w", err)
		}
		fresh, err := s.claimOrders(ctx, tx, orderIDs)
		if err != nil {
			return err
		}
		anchors := map[int64]int64{}
		ranks := map[rankKey]int64{}
		for _, o := range fresh {
			anchors[o.AnchorUID] += o.Total
			ranks[rankKey{o.RoomID, o.UID}] += o.Total
		}
		// Rows are written in key order so that concurrent transactions lock them in one order.
		up := s.db.Upsert("gift_anchor_scores", []string{"anchor_uid", "score", "updated_at"}, []string{"anchor_uid"},
			"score = score + EXCLUDED(score)", "updated_at = EXCLUDED(updated_at)")
		for _, a := range slices.Sorted(maps.Keys(anchors)) {
			if _, err := tx.ExecContext(ctx, up, a, anchors[a], nowMs); err != nil {
				return fmt.Errorf("add anchor score: %w", err)
			}
		}
		up = s.db.Upsert("gift_rank", []string{"room_id", "uid", "score", "updated_at"}, []string{"room_id", "uid"},
			"score = score + EXCLUDED(score)", "updated_at = EXCLUDED(updated_at)")
		keys := slices.SortedFunc(maps.Keys(ranks), func(a, b rankKey) int {
			return cmp.Or(cmp.Compare(a.room, b.room), cmp.Compare(a.uid, b.uid))
		})
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, up, k.room, k.uid, ranks[k], nowMs); err != nil {
				return fmt.Errorf("add rank score: %w", err)
			}
		}
		res = flushResult{Orders: len(fresh), Rows: len(anchors) + len(ranks)}
		for _, k := range keys {
			if len(res.Rooms) == 0 || res.Rooms[len(res.Rooms)-1] != k.room {
				res.Rooms = append(res.Rooms, k.room)
			}
		}
		return nil
	}()
	return res, err
}

// claimOrders returns the given orders not counted yet and marks them counted.
func (s *sqlStore) claimOrders(ctx context.Context, tx *sql.Tx, ids []int64) ([]Order, error) {
	lock := ""
	if s.db.Dialect == sqlstore.MySQL {
		lock = " FOR UPDATE"
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var fresh []Order
	for len(ids) > 0 {
		n := min(len(ids), inChunk)
		ph, args := inList(ids[:n])
		ids = ids[n:]
		rows, err := tx.QueryContext(ctx, "SELECT id, room_id, uid, anchor_uid, total FROM gift_orders WHERE scored = 0 AND id IN ("+ph+") ORDER BY id"+lock, args...)
		if err != nil {
			return nil, fmt.Errorf("read orders to score: %w", err)
		}
		var got []int64
		for rows.Next() {
			var o Order
			if err := rows.Scan(&o.ID, &o.RoomID, &o.UID, &o.AnchorUID, &o.Total); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read orders to score: %w", err)
			}
			fresh = append(fresh, o)
			got = append(got, o.ID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read orders to score: %w", err)
		}
		if len(got) == 0 {
			continue
		}
		ph, args = inList(got)
		if _, err := tx.ExecContext(ctx, "UPDATE gift_orders SET scored = 1 WHERE id IN ("+ph+")", args...); err != nil {
			return nil, fmt.Errorf("mark orders scored: %w", err)
		}
	}
	return fresh, nil
}

func (s *sqlStore) AppliedSeq(ctx context.Context, consumer string) (uint64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, "SELECT seq FROM gift_agg_offsets WHERE consumer = ?", consumer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read offset of %s: %w", consumer, err)
	}
	return uint64(seq), nil
}

func (s *sqlStore) Rank(ctx context.Context, roomID int64, limit int) ([]RankEntry, error) {
	rows, err := s.db.Reader().QueryContext(ctx, // a rank may lag: read replica
		"SELECT uid, score FROM gift_rank WHERE room_id = ? ORDER BY score DESC, uid LIMIT ?", roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("read rank of room %d: %w", roomID, err)
	}
	defer rows.Close()
	out := []RankEntry{}
	for rows.Next() {
		var e RankEntry
		if err := rows.Scan(&e.UID, &e.Score); err != nil {
			return nil, fmt.Errorf("read rank of room %d: %w", roomID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqlStore) AnchorScore(ctx context.Context, anchorUID int64) (int64, error) {
	var score int64
	err := s.db.Reader().QueryRowContext(ctx, "SELECT score FROM gift_anchor_scores WHERE anchor_uid = ?", anchorUID).Scan(&score)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read anchor score %d: %w", anchorUID, err)
	}
	return score, nil
}
