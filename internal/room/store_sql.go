package room

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

var migrations = []sqlstore.Migration{{
	Version: 1, Name: "rooms",
	SQLite: `CREATE TABLE rooms (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	owner_uid BIGINT NOT NULL,
	title VARCHAR(160) NOT NULL,
	area VARCHAR(80) NOT NULL DEFAULT '',
	cover VARCHAR(512) NOT NULL DEFAULT '',
	live INTEGER NOT NULL DEFAULT 0,
	live_started_at BIGINT NOT NULL DEFAULT 0,
	stream_key VARCHAR(64) NOT NULL,
	tags VARCHAR(512) NOT NULL DEFAULT '',
	popularity BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL);
CREATE INDEX rooms_owner ON rooms (owner_uid);
CREATE INDEX rooms_list ON rooms (live, popularity, id)`,
	MySQL: `CREATE TABLE rooms (
	id BIGINT AUTO_INCREMENT PRIMARY KEY,
	owner_uid BIGINT NOT NULL,
	title VARCHAR(160) NOT NULL,
	area VARCHAR(80) NOT NULL DEFAULT '',
	cover VARCHAR(512) NOT NULL DEFAULT '',
	live TINYINT NOT NULL DEFAULT 0,
	live_started_at BIGINT NOT NULL DEFAULT 0,
	stream_key VARCHAR(64) NOT NULL,
	tags VARCHAR(512) NOT NULL DEFAULT '',
	popularity BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	KEY rooms_owner (owner_uid),
	KEY rooms_list (live, popularity, id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}, likesMigration, coverMigration, switchesMigration, streamKeyMigration, streamMigration}

type sqlStore struct{ db *sqlstore.DB }

// NewSQLStore migrates and returns the SQL store of rooms.
func NewSQLStore(ctx context.Context, db *sqlstore.DB) (Store, error) {
	if err := db.Migrate(ctx, "room", migrations); err != nil {
		return nil, err
	}
	return &sqlStore{db: db}, nil
}

const cols = "id, owner_uid, title, area, cover, live, live_started_at, stream_key, tags, created_at, updated_at, popularity, switches_off"

type scanner interface{ Scan(...any) error }

func scanRoom(s scanner) (Listed, error) {
	var r Listed
	var live int
	var tags, off string
	err := s.Scan(&r.ID, &r.OwnerUID, &r.Title, &r.Area, &r.Cover, &live, &r.LiveStartedAt,
		&r.StreamKey, &tags, &r.CreatedAt, &r.UpdatedAt, &r.Popularity, &off)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrRoomNotFound
	}
	r.Live = live == 1
	r.Tags = splitTags(tags)
	r.Off = splitTags(off)
	return r, err
}

func splitTags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func (s *sqlStore) Create(ctx context.Context, r Room, max int) (Room, error) {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM rooms WHERE owner_uid = ?", r.OwnerUID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return ErrRoomLimit.Withf("a user may own %d room(s)", max)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO rooms (owner_uid, title, area, cover, stream_key, tags, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, '', ?, ?)`, r.OwnerUID, r.Title, r.Area, r.Cover, r.StreamKey, r.CreatedAt, r.UpdatedAt)
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	r.Tags, r.Off = []string{}, []string{}
	return r, err
}

func (s *sqlStore) Get(ctx context.Context, id int64) (Room, error) {
	l, err := scanRoom(s.db.QueryRowContext(ctx, "SELECT "+cols+" FROM rooms WHERE id = ?", id))
	return l.Room, err
}

func (s *sqlStore) ByOwner(ctx context.Context, owner int64) (Room, error) {
	l, err := scanRoom(s.db.QueryRowContext(ctx, "SELECT "+cols+" FROM rooms WHERE owner_uid = ? ORDER BY id LIMIT 1", owner))
	return l.Room, err
}

func (s *sqlStore) exec(ctx context.Context, id int64, q string, args ...any) (Room, error) {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return Room{}, err
	}
	_ = res // MySQL counts only changed rows, so read back instead: a missing room is ErrRoomNotFound.
	return s.Get(ctx, id)
}

func (s *sqlStore) Update(ctx context.Context, id int64, p Patch, now int64) (Room, error) {
	set := []string{"updated_at = ?"}
	args := []any{now}
	for _, f := range []struct {
		col string
		v   *string
	}{{"title", p.Title}, {"area", p.Area}, {"cover", p.Cover}} {
		if f.v != nil {
			set = append(set, f.col+" = ?")
			args = append(args, *f.v)
		}
	}
	args = append(args, id)
	return s.exec(ctx, id, "UPDATE rooms SET "+strings.Join(set, ", ")+" WHERE id = ?", args...)
}

func (s *sqlStore) SetLive(ctx context.Context, id int64, live, stream bool, now int64) (Room, error) {
	if live {
		seen := int64(0)
		if stream {
			seen = now
		}
		return s.exec(ctx, id, "UPDATE rooms SET live = 1, live_started_at = ?, stream_seen_at = ?, stream_node = '', updated_at = ? WHERE id = ?",
			now, seen, now, id)
	}
	return s.exec(ctx, id, `UPDATE rooms SET live = 0, live_started_at = 0, popularity = 0, stream_seen_at = 0, stream_node = '',
		updated_at = ? WHERE id = ?`, now, id)
}

func (s *sqlStore) SetStreamKey(ctx context.Context, id int64, key string, now int64) (Room, error) {
	return s.exec(ctx, id, "UPDATE rooms SET stream_key = ?, updated_at = ? WHERE id = ?", key, now, id)
}

// streamKeyMigration indexes stream keys: a publish names its room by key alone.
var streamKeyMigration = sqlstore.Migration{Version: 5, Name: "stream key index",
	SQLite: `CREATE INDEX rooms_stream_key ON rooms (stream_key)`,
	MySQL:  `CREATE INDEX rooms_stream_key ON rooms (stream_key)`}

func (s *sqlStore) ByStreamKey(ctx context.Context, key string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, "SELECT id FROM rooms WHERE stream_key = ?", key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrRoomNotFound
	}
	return id, err
}

func (s *sqlStore) SetTags(ctx context.Context, id int64, tags []string, now int64) error {
	_, err := s.db.ExecContext(ctx, "UPDATE rooms SET tags = ?, updated_at = ? WHERE id = ?", strings.Join(tags, ","), now, id)
	return err
}

func (s *sqlStore) List(ctx context.Context, after *Cursor, limit int) ([]Listed, error) {
	q := "SELECT " + cols + " FROM rooms"
	var args []any
	if after != nil {
		// Keyset pagination over (live DESC, popularity DESC, id DESC), spelled out so both
		// engines use the index without row-value comparisons.
		live := 0
		if after.Live {
			live = 1
		}
		q += ` WHERE live < ? OR (live = ? AND (popularity < ? OR (popularity = ? AND id < ?)))`
		args = append(args, live, live, after.Popularity, after.Popularity, after.ID)
	}
	q += fmt.Sprintf(" ORDER BY live DESC, popularity DESC, id DESC LIMIT %d", limit)
	rows, err := s.db.Reader().QueryContext(ctx, q, args...) // the list may lag: read replica
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Listed
	for rows.Next() {
		l, err := scanRoom(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *sqlStore) LiveIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM rooms WHERE live = 1")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *sqlStore) SetPopularity(ctx context.Context, pop map[int64]int64) error {
	for id, p := range pop {
		if _, err := s.db.ExecContext(ctx, "UPDATE rooms SET popularity = ? WHERE id = ? AND popularity <> ?", p, id, p); err != nil {
			return err
		}
	}
	return nil
}

// Migrations are the room tables' schema steps, for zhibo migrate.
func Migrations() []sqlstore.Migration { return migrations }
