package room

import (
	"context"
	"database/sql"
	"errors"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// coverMigration adds uploaded cover images, kept in the room component's own store so that
// every room process can serve them with no shared filesystem.
var coverMigration = sqlstore.Migration{
	Version: 3, Name: "covers",
	SQLite: `CREATE TABLE room_covers (
	room_id BIGINT NOT NULL PRIMARY KEY,
	content_type VARCHAR(32) NOT NULL,
	etag VARCHAR(64) NOT NULL,
	data BLOB NOT NULL,
	updated_at BIGINT NOT NULL)`,
	MySQL: `CREATE TABLE room_covers (
	room_id BIGINT NOT NULL PRIMARY KEY,
	content_type VARCHAR(32) NOT NULL,
	etag VARCHAR(64) NOT NULL,
	data MEDIUMBLOB NOT NULL,
	updated_at BIGINT NOT NULL) ENGINE=InnoDB`,
}

// SetCover stores room id's cover image and points rooms.cover at path, in one transaction.
func (s *sqlStore) SetCover(ctx context.Context, id int64, c Cover, path string) (Room, error) {
	up := s.db.Upsert("room_covers", []string{"room_id", "content_type", "etag", "data", "updated_at"}, []string{"room_id"},
		"content_type = EXCLUDED(content_type)", "etag = EXCLUDED(etag)", "data = EXCLUDED(data)", "updated_at = EXCLUDED(updated_at)")
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE rooms SET cover = ?, updated_at = ? WHERE id = ?", path, c.UpdatedAt, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, up, id, c.ContentType, c.ETag, c.Data, c.UpdatedAt)
		return err
	})
	if err != nil {
		return Room{}, err
	}
	return s.Get(ctx, id)
}

// Cover returns room id's cover image, or ErrNoCover.
func (s *sqlStore) Cover(ctx context.Context, id int64) (Cover, error) {
	var c Cover
	err := s.db.QueryRowContext(ctx, "SELECT content_type, etag, data, updated_at FROM room_covers WHERE room_id = ?", id).
		Scan(&c.ContentType, &c.ETag, &c.Data, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Cover{}, ErrNoCover
	}
	return c, err
}

// DeleteCover removes room id's cover image, if any.
func (s *sqlStore) DeleteCover(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM room_covers WHERE room_id = ?", id)
	return err
}
