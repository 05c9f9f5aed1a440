package room

import (
	"context"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// streamMigration records which rooms are live because of their video and when media last
// confirmed that video (stream_seen_at, unix ms by room's clock; 0 = not live by video: the
// manual switch, or preparing), and which media node confirmed it (stream_node). Rooms live
// before this migration count as switched live by hand: nothing expires them.
var streamMigration = sqlstore.Migration{Version: 6, Name: "stream confirmations",
	SQLite: `ALTER TABLE rooms ADD COLUMN stream_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN stream_node VARCHAR(128) NOT NULL DEFAULT ''`,
	MySQL: `ALTER TABLE rooms ADD COLUMN stream_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN stream_node VARCHAR(128) NOT NULL DEFAULT ''`}

// confirmBatch bounds the ids of one confirmation statement.
const confirmBatch = 500

// StaleStream is a room live by its video whose last confirmation is older than asked.
type StaleStream struct {
	ID int64
	// Node is the media node that confirmed it last ("" = none since the publish start).
	Node string
	// SeenAt is the last confirmation (or the publish start), unix ms.
	SeenAt int64
}

func (s *sqlStore) StreamLive(ctx context.Context, id int64, now int64) error {
	_, err := s.db.ExecContext(ctx, "UPDATE rooms SET stream_seen_at = ? WHERE id = ? AND live = 1", now, id)
	return err
}

func (s *sqlStore) ConfirmStreams(ctx context.Context, node string, ids []int64, now int64) error {
	for len(ids) > 0 {
		n := min(len(ids), confirmBatch)
		args := []any{now, node}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		q := "UPDATE rooms SET stream_seen_at = ?, stream_node = ? WHERE live = 1 AND stream_seen_at > 0 AND id IN (?" +
			strings.Repeat(", ?", n-1) + ")"
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (s *sqlStore) StaleStreams(ctx context.Context, before int64) ([]StaleStream, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT id, stream_node, stream_seen_at FROM rooms WHERE live = 1 AND stream_seen_at > 0 AND stream_seen_at < ? ORDER BY id", before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StaleStream
	for rows.Next() {
		var st StaleStream
		if err := rows.Scan(&st.ID, &st.Node, &st.SeenAt); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

func (s *sqlStore) ExpireStream(ctx context.Context, id, before, now int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE rooms SET live = 0, live_started_at = 0, popularity = 0, stream_seen_at = 0,
		stream_node = '', updated_at = ? WHERE id = ? AND live = 1 AND stream_seen_at > 0 AND stream_seen_at < ?`, now, id, before)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
