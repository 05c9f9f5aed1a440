package room

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// likesMigration adds the like counts and the ids of the like events folded into them.
var likesMigration = sqlstore.Migration{
	Version: 2, Name: "likes",
	SQLite: `CREATE TABLE room_likes (
	room_id BIGINT NOT NULL PRIMARY KEY,
	likes BIGINT NOT NULL,
	updated_at BIGINT NOT NULL);
CREATE TABLE room_likes_applied (id BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL);
CREATE INDEX room_likes_applied_at ON room_likes_applied (applied_at)`,
	MySQL: `CREATE TABLE room_likes (
	room_id BIGINT NOT NULL PRIMARY KEY,
	likes BIGINT NOT NULL,
	updated_at BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE room_likes_applied (id BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL,
	KEY room_likes_applied_at (applied_at)) ENGINE=InnoDB`,
}

// addLikesTx adds each room's folded likes within tx, in room order so that concurrent folds
// lock rows in one order, and returns the rooms' new totals.
func addLikesTx(ctx context.Context, tx *sql.Tx, db *sqlstore.DB, deltas map[int64]int64, nowMs int64) (map[int64]int64, error) {
	if len(deltas) == 0 {
		return nil, nil
	}
	up := db.Upsert("room_likes", []string{"room_id", "likes", "updated_at"}, []string{"room_id"},
		"likes = likes + EXCLUDED(likes)", "updated_at = EXCLUDED(updated_at)")
	ids := slices.Sorted(maps.Keys(deltas))
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, up, id, deltas[id], nowMs); err != nil {
			return nil, fmt.Errorf("add likes of room %d: %w", id, err)
		}
	}
	return readLikes(ctx, tx, ids)
}

// queryer is what a read needs of a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// readLikes returns the like totals of the rooms among ids that have any.
func readLikes(ctx context.Context, q queryer, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	for c := range slices.Chunk(ids, 500) {
		args := make([]any, len(c))
		for i, id := range c {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT room_id, likes FROM room_likes WHERE room_id IN ("+
			strings.TrimSuffix(strings.Repeat("?,", len(c)), ",")+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read likes: %w", err)
		}
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read likes: %w", err)
			}
			out[id] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read likes: %w", err)
		}
	}
	return out, nil
}

func (s *sqlStore) Likes(ctx context.Context, ids []int64) (map[int64]int64, error) {
	if len(ids) == 0 {
		return map[int64]int64{}, nil
	}
	return readLikes(ctx, s.db, ids)
}
