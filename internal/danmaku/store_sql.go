package danmaku

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// unameColumnRunes is the size of the uname column (text holds maxRunesLimit); MySQL utf8mb4
// VARCHAR sizes count characters, as utf8.RuneCountInString does.
const unameColumnRunes = 191

// migrations create the comment and mute tables. Comment ids are Snowflake ids, so ordering
// by (room_id, id) is ordering by time within a room: that index serves "last N of a room".
func migrations() []sqlstore.Migration {
	return []sqlstore.Migration{
		{Version: 1, Name: "comments and mutes",
			SQLite: `CREATE TABLE danmaku_comments (
	id BIGINT NOT NULL PRIMARY KEY,
	room_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	uname VARCHAR(191) NOT NULL,
	text VARCHAR(500) NOT NULL,
	color INT NOT NULL,
	mode INT NOT NULL,
	created_at BIGINT NOT NULL);
CREATE INDEX danmaku_comments_room_id ON danmaku_comments (room_id, id);
CREATE TABLE danmaku_mutes (
	room_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	by_uid BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (room_id, uid));`,
			MySQL: `CREATE TABLE danmaku_comments (
	id BIGINT NOT NULL PRIMARY KEY,
	room_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	uname VARCHAR(191) NOT NULL,
	text VARCHAR(500) NOT NULL,
	color INT NOT NULL,
	mode INT NOT NULL,
	created_at BIGINT NOT NULL,
	KEY danmaku_comments_room_id (room_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE danmaku_mutes (
	room_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	by_uid BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (room_id, uid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`},
		// The outbox: a comment is stored unpushed and marked pushed once its DANMU_MSG is on
		// the queue; the relay pushes what stays unmarked (a queue outage, a crash).
		{Version: 2, Name: "comment outbox",
			SQLite: `ALTER TABLE danmaku_comments ADD COLUMN pushed INTEGER NOT NULL DEFAULT 1;
CREATE INDEX danmaku_comments_unpushed ON danmaku_comments (pushed, id);`,
			MySQL: `ALTER TABLE danmaku_comments ADD COLUMN pushed TINYINT NOT NULL DEFAULT 1,
	ADD KEY danmaku_comments_unpushed (pushed, id);`},
		// Replies: the comment a comment answers and that comment's sender, copied when the
		// reply is accepted (0 and '' for a comment that answers none).
		{Version: 3, Name: "comment replies",
			SQLite: `ALTER TABLE danmaku_comments ADD COLUMN reply_to BIGINT NOT NULL DEFAULT 0;
ALTER TABLE danmaku_comments ADD COLUMN reply_uid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE danmaku_comments ADD COLUMN reply_uname VARCHAR(191) NOT NULL DEFAULT '';`,
			MySQL: `ALTER TABLE danmaku_comments ADD COLUMN reply_to BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN reply_uid BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN reply_uname VARCHAR(191) NOT NULL DEFAULT '';`},
	}
}

// commentCols are the columns scanComment reads.
const commentCols = "id, room_id, uid, uname, text, color, mode, created_at, reply_to, reply_uid, reply_uname"

type scanner interface{ Scan(dest ...any) error }

func scanComment(r scanner) (Comment, error) {
	var c Comment
	err := r.Scan(&c.ID, &c.RoomID, &c.UID, &c.Uname, &c.Text, &c.Color, &c.Mode, &c.Ts, &c.ReplyTo, &c.ReplyUID, &c.ReplyUname)
	return c, err
}

// sqlStore is the Store on SQLite or MySQL.
type sqlStore struct {
	db *sqlstore.DB
}

// NewSQLStore returns the Store kept in db.
func NewSQLStore(db *sqlstore.DB) Store { return &sqlStore{db: db} }

func (s *sqlStore) Migrate(ctx context.Context) error {
	return s.db.Migrate(ctx, "danmaku", migrations())
}

func (s *sqlStore) InsertComment(ctx context.Context, c Comment) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO danmaku_comments
		(`+commentCols+`, pushed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		c.ID, c.RoomID, c.UID, c.Uname, c.Text, c.Color, c.Mode, c.Ts, c.ReplyTo, c.ReplyUID, c.ReplyUname)
	if err != nil {
		return fmt.Errorf("insert comment: %w", err)
	}
	return nil
}

// Comment reads the primary: a reply may come right after the comment it answers, before a
// replica has it.
func (s *sqlStore) Comment(ctx context.Context, id int64) (Comment, bool, error) {
	c, err := scanComment(s.db.QueryRowContext(ctx, "SELECT "+commentCols+" FROM danmaku_comments WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Comment{}, false, nil
	case err != nil:
		return Comment{}, false, fmt.Errorf("comment %d: %w", id, err)
	}
	return c, true, nil
}

func (s *sqlStore) Unpushed(ctx context.Context, beforeMs int64, limit int) ([]Comment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+commentCols+`
		FROM danmaku_comments WHERE pushed = 0 AND created_at < ? ORDER BY id LIMIT ?`, beforeMs, limit)
	if err != nil {
		return nil, fmt.Errorf("unpushed comments: %w", err)
	}
	defer rows.Close()
	var out []Comment
	for rows.Next() {
		c, err := scanComment(rows)
		if err != nil {
			return nil, fmt.Errorf("unpushed comments: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqlStore) MarkPushed(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		ph := strings.TrimSuffix(strings.Repeat("?,", n), ",")
		if _, err := s.db.ExecContext(ctx, "UPDATE danmaku_comments SET pushed = 1 WHERE id IN ("+ph+")", args...); err != nil {
			return fmt.Errorf("mark comments pushed: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

func (s *sqlStore) Recent(ctx context.Context, roomID int64, limit int) ([]Comment, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+commentCols+`
		FROM danmaku_comments WHERE room_id = ? ORDER BY id DESC LIMIT ?`, roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("recent comments: %w", err)
	}
	defer rows.Close()
	out := make([]Comment, 0, limit)
	for rows.Next() {
		c, err := scanComment(rows)
		if err != nil {
			return nil, fmt.Errorf("recent comments: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent comments: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

func (s *sqlStore) Mute(ctx context.Context, m Mute) (Mute, error) {
	_, err := s.db.ExecContext(ctx, s.db.InsertIgnore()+` INTO danmaku_mutes
		(room_id, uid, by_uid, created_at) VALUES (?, ?, ?, ?)`, m.RoomID, m.UID, m.ByUID, m.Since)
	if err != nil {
		return Mute{}, fmt.Errorf("mute: %w", err)
	}
	got := Mute{RoomID: m.RoomID, UID: m.UID}
	err = s.db.QueryRowContext(ctx, `SELECT by_uid, created_at FROM danmaku_mutes
		WHERE room_id = ? AND uid = ?`, m.RoomID, m.UID).Scan(&got.ByUID, &got.Since)
	if errors.Is(err, sql.ErrNoRows) {
		// Unmuted between the insert and the read: what was asked for did happen.
		return m, nil
	}
	if err != nil {
		return Mute{}, fmt.Errorf("mute: %w", err)
	}
	return got, nil
}

func (s *sqlStore) Unmute(ctx context.Context, roomID, uid int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM danmaku_mutes WHERE room_id = ? AND uid = ?`, roomID, uid)
	if err != nil {
		return false, fmt.Errorf("unmute: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("unmute: %w", err)
	}
	return n > 0, nil
}

func (s *sqlStore) IsMuted(ctx context.Context, roomID, uid int64) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM danmaku_mutes WHERE room_id = ? AND uid = ?`,
		roomID, uid).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("is muted: %w", err)
	}
	return true, nil
}

func (s *sqlStore) MutedUIDs(ctx context.Context, roomID int64) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uid FROM danmaku_mutes WHERE room_id = ?`, roomID)
	if err != nil {
		return nil, fmt.Errorf("muted uids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("muted uids: %w", err)
		}
		out = append(out, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("muted uids: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Mutes(ctx context.Context, roomID int64, limit int) ([]Mute, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT room_id, uid, by_uid, created_at FROM danmaku_mutes
		WHERE room_id = ? ORDER BY created_at DESC, uid DESC LIMIT ?`, roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("list mutes: %w", err)
	}
	defer rows.Close()
	var out []Mute
	for rows.Next() {
		var m Mute
		if err := rows.Scan(&m.RoomID, &m.UID, &m.ByUID, &m.Since); err != nil {
			return nil, fmt.Errorf("list mutes: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list mutes: %w", err)
	}
	return out, nil
}

// Migrations are the danmaku tables' schema steps, for zhibo migrate.
func Migrations() []sqlstore.Migration { return migrations() }
