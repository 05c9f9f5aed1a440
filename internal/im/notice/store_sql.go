package notice

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// Migrations are the notices' tables. A batch send stores the content once (im_notices) and a
// pointer per recipient (im_notice_inbox, keyed by user, kind and notice); each user's unread
// count per kind is one row (im_notice_unread). im_notice_chunks records the chunks delivered, in the transaction that
// delivers them, so a chunk delivered again after a crash changes nothing.
func Migrations() []sqlstore.Migration {
	return []sqlstore.Migration{
		{Version: 1, Name: "notices",
			SQLite: `CREATE TABLE im_notices (
	id BIGINT NOT NULL PRIMARY KEY,
	business VARCHAR(32) NOT NULL,
	kind INTEGER NOT NULL,
	lane VARCHAR(8) NOT NULL,
	title VARCHAR(200) NOT NULL,
	body TEXT NOT NULL,
	sender BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	recipients TEXT NOT NULL,
	total BIGINT NOT NULL,
	done BIGINT NOT NULL DEFAULT 0,
	finished INTEGER NOT NULL DEFAULT 0);
CREATE TABLE im_notice_inbox (
	uid BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	kind INTEGER NOT NULL,
	PRIMARY KEY (uid, notice_id));
CREATE INDEX im_notice_inbox_kind ON im_notice_inbox (uid, kind, notice_id);
CREATE TABLE im_notice_unread (
	uid BIGINT NOT NULL,
	kind INTEGER NOT NULL,
	unread BIGINT NOT NULL,
	read_id BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, kind));
CREATE TABLE im_notice_chunks (
	notice_id BIGINT NOT NULL,
	chunk INTEGER NOT NULL,
	PRIMARY KEY (notice_id, chunk));`,
			MySQL: `CREATE TABLE im_notices (
	id BIGINT NOT NULL PRIMARY KEY,
	business VARCHAR(32) NOT NULL,
	kind TINYINT NOT NULL,
	lane VARCHAR(8) NOT NULL,
	title VARCHAR(200) NOT NULL,
	body TEXT NOT NULL,
	sender BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	recipients MEDIUMTEXT NOT NULL,
	total BIGINT NOT NULL,
	done BIGINT NOT NULL DEFAULT 0,
	finished TINYINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_notice_inbox (
	uid BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	kind TINYINT NOT NULL,
	PRIMARY KEY (uid, notice_id),
	KEY im_notice_inbox_kind (uid, kind, notice_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_notice_unread (
	uid BIGINT NOT NULL,
	kind TINYINT NOT NULL,
	unread BIGINT NOT NULL,
	read_id BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_notice_chunks (
	notice_id BIGINT NOT NULL,
	chunk INT NOT NULL,
	PRIMARY KEY (notice_id, chunk)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`},
		{Version: 2, Name: "interactive notices", SQLite: interactiveSQLite, MySQL: interactiveMySQL},
		// Each follow event noticed, claimed in the transaction that delivers its notice: once
		// per event, and once per follower, followee and UTC day.
		{Version: 3, Name: "follow notices", SQLite: `CREATE TABLE im_notice_follows (
	event_id BIGINT NOT NULL PRIMARY KEY,
	uid BIGINT NOT NULL,
	follower BIGINT NOT NULL,
	day_start BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	UNIQUE (uid, follower, day_start));`, MySQL: `CREATE TABLE im_notice_follows (
	event_id BIGINT NOT NULL PRIMARY KEY,
	uid BIGINT NOT NULL,
	follower BIGINT NOT NULL,
	day_start BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	UNIQUE KEY im_notice_follows_pair (uid, follower, day_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`},
		// One key a table: a batch writes one B-tree a recipient in each (the inbox's reads all
		// go by user and kind), where the inbox had a second index and SQLite's rowid tables a
		// key index beside the table.
		{Version: 4, Name: "inbox clustered by user and kind", SQLite: `CREATE TABLE im_notice_inbox_v4 (
	uid BIGINT NOT NULL,
	kind INTEGER NOT NULL,
	notice_id BIGINT NOT NULL,
	PRIMARY KEY (uid, kind, notice_id)) WITHOUT ROWID;
INSERT INTO im_notice_inbox_v4 (uid, kind, notice_id) SELECT uid, kind, notice_id FROM im_notice_inbox;
DROP TABLE im_notice_inbox;
ALTER TABLE im_notice_inbox_v4 RENAME TO im_notice_inbox;
CREATE TABLE im_notice_unread_v4 (
	uid BIGINT NOT NULL,
	kind INTEGER NOT NULL,
	unread BIGINT NOT NULL,
	read_id BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, kind)) WITHOUT ROWID;
INSERT INTO im_notice_unread_v4 (uid, kind, unread, read_id) SELECT uid, kind, unread, read_id FROM im_notice_unread;
DROP TABLE im_notice_unread;
ALTER TABLE im_notice_unread_v4 RENAME TO im_notice_unread;`,
			MySQL: `ALTER TABLE im_notice_inbox DROP PRIMARY KEY, ADD PRIMARY KEY (uid, kind, notice_id), DROP KEY im_notice_inbox_kind;`},
		// Reply notices: the comment a reply answers (0 for every other notice). Their claims
		// share im_notice_mentions, one notice per comment and user.
		{Version: 5, Name: "reply notices",
			SQLite: `ALTER TABLE im_notices ADD COLUMN reply_to BIGINT NOT NULL DEFAULT 0;`,
			MySQL:  `ALTER TABLE im_notices ADD COLUMN reply_to BIGINT NOT NULL DEFAULT 0;`},
	}
}

type sqlStore struct{ db *sqlstore.DB }

// NewSQLStore returns the Store kept in db.
func NewSQLStore(db *sqlstore.DB) Store { return &sqlStore{db: db} }

func (s *sqlStore) Migrate(ctx context.Context) error {
	return s.db.Migrate(ctx, "im-notice", Migrations())
}

func (s *sqlStore) Create(ctx context.Context, b Batch) error {
	rec, err := json.Marshal(b.Recipients)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO im_notices (id, business, kind, lane, title, body, sender, created_at, recipients, total)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.Business, b.Kind, b.Lane, b.Title, b.Body, b.Sender, b.Ts, string(rec), b.Total)
	if err != nil {
		return fmt.Errorf("create notice: %w", err)
	}
	return nil
}

func (s *sqlStore) Batch(ctx context.Context, id int64) (Batch, error) {
	var b Batch
	var rec string
	err := s.db.QueryRowContext(ctx, `SELECT id, business, kind, lane, title, body, sender, created_at, recipients, total, done, finished
		FROM im_notices WHERE id = ?`, id).Scan(&b.ID, &b.Business, &b.Kind, &b.Lane, &b.Title, &b.Body, &b.Sender, &b.Ts,
		&rec, &b.Total, &b.Done, &b.Finished)
	if errors.Is(err, sql.ErrNoRows) {
		return Batch{}, ErrNoNotice
	}
	if err != nil {
		return Batch{}, fmt.Errorf("notice: %w", err)
	}
	if err := json.Unmarshal([]byte(rec), &b.Recipients); err != nil {
		return Batch{}, fmt.Errorf("notice %d recipients: %w", id, err)
	}
	return b, nil
}

func (s *sqlStore) DeliverChunk(ctx context.Context, n Notice, chunk int, uids []int64) (bool, error) {
	delivered := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		got, err := sqlstore.InsertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_notice_chunks (notice_id, chunk) VALUES ", 2, 1,
			func(int) []any { return []any{n.ID, chunk} })
		if err != nil || got == 0 {
			return err // delivered before
		}
		if _, err := sqlstore.InsertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_notice_inbox (uid, notice_id, kind) VALUES ", 3, len(uids),
			func(i int) []any { return []any{uids[i], n.ID, n.Kind} }); err != nil {
			return err
		}
		if _, err := sqlstore.InsertRows(ctx, tx, "INSERT INTO im_notice_unread (uid, kind, unread) VALUES ", 3, len(uids),
			func(i int) []any { return []any{uids[i], n.Kind, 1} }, s.db.UpsertTail([]string{"uid", "kind"}, "unread = unread + 1")); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE im_notices SET done = done + ? WHERE id = ?", len(uids), n.ID); err != nil {
			return fmt.Errorf("notice progress: %w", err)
		}
		delivered = true
		return nil
	})
	return delivered, err
}

func (s *sqlStore) Finish(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, "UPDATE im_notices SET finished = 1 WHERE id = ?", id)
	return err
}

func (s *sqlStore) Inbox(ctx context.Context, uid int64, kind int, before int64, limit int) ([]Item, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	var readID int64
	if err := s.db.QueryRowContext(ctx, "SELECT read_id FROM im_notice_unread WHERE uid = ? AND kind = ?", uid, kind).Scan(&readID); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	out := []Item{}
	err := sqlstore.Each(ctx, s.db.Reader(), `SELECT `+noticeCols+`
		FROM im_notice_inbox i JOIN im_notices n ON n.id = i.notice_id
		WHERE i.uid = ? AND i.kind = ? AND i.notice_id < ? ORDER BY i.notice_id DESC LIMIT ?`, []any{uid, kind, before, limit},
		func(r *sql.Rows) error {
			var it Item
			var err error
			it.Notice, err = scanNotice(r)
			it.Read = it.ID <= readID
			out = append(out, it)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Unread(ctx context.Context, uid int64) (map[int]int64, error) {
	out := map[int]int64{}
	for _, k := range Kinds {
		out[k.Kind] = 0
	}
	err := sqlstore.Each(ctx, s.db.DB, "SELECT kind, unread FROM im_notice_unread WHERE uid = ?", []any{uid}, func(r *sql.Rows) error {
		var k int
		var n int64
		err := r.Scan(&k, &n)
		out[k] = n
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notice unread: %w", err)
	}
	return out, nil
}

func (s *sqlStore) MarkRead(ctx context.Context, uid int64, kind int, upto int64) (int64, error) {
	var left int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var readID int64
		err := tx.QueryRowContext(ctx, "SELECT read_id FROM im_notice_unread WHERE uid = ? AND kind = ?"+s.db.ForUpdate(), uid, kind).Scan(&readID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing was ever delivered: nothing unread
		}
		if err != nil {
			return fmt.Errorf("mark notices read: %w", err)
		}
		upto = max(upto, readID)
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM im_notice_inbox WHERE uid = ? AND kind = ? AND notice_id > ?",
			uid, kind, upto).Scan(&left); err != nil {
			return fmt.Errorf("mark notices read: %w", err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE im_notice_unread SET unread = ?, read_id = ? WHERE uid = ? AND kind = ?", left, upto, uid, kind)
		return err
	})
	return left, err
}
