package room

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// switchesMigration adds the room's own feature switches to its row (so a room read carries
// them at no extra cost) and a table of settings that hold for every room: the global switches.
var switchesMigration = sqlstore.Migration{
	Version: 4, Name: "switches",
	SQLite: `ALTER TABLE rooms ADD COLUMN switches_off VARCHAR(128) NOT NULL DEFAULT '';
CREATE TABLE room_settings (
	name VARCHAR(64) PRIMARY KEY,
	value VARCHAR(512) NOT NULL,
	updated_at BIGINT NOT NULL)`,
	MySQL: `ALTER TABLE rooms ADD COLUMN switches_off VARCHAR(128) NOT NULL DEFAULT '';
CREATE TABLE room_settings (
	name VARCHAR(64) PRIMARY KEY,
	value VARCHAR(512) NOT NULL,
	updated_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// globalSwitchesSetting names the global switches in room_settings.
const globalSwitchesSetting = "switches_off"

func (s *sqlStore) SetSwitches(ctx context.Context, id int64, off []string, now int64) (Room, error) {
	return s.exec(ctx, id, "UPDATE rooms SET switches_off = ?, updated_at = ? WHERE id = ?", strings.Join(off, ","), now, id)
}

func (s *sqlStore) GlobalSwitches(ctx context.Context) ([]string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM room_settings WHERE name = ?", globalSwitchesSetting).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return []string{}, nil
	}
	return splitTags(v), err
}

func (s *sqlStore) SetGlobalSwitches(ctx context.Context, off []string, now int64) error {
	up := s.db.Upsert("room_settings", []string{"name", "value", "updated_at"}, []string{"name"},
		"value = EXCLUDED(value)", "updated_at = EXCLUDED(updated_at)")
	_, err := s.db.ExecContext(ctx, up, globalSwitchesSetting, strings.Join(off, ","), now)
	return err
}
