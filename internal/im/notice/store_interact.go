package notice

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The interactive notices' tables (migration 2). A mention, reply or like notice is a notice
// like any other (im_notices, with the room, the like count, the actors as JSON and, since
// migration 5, the comment a reply answers) in one inbox. im_notice_mentions records each
// (comment, user) given a notice of a comment — a mention or a reply — in the transaction that
// delivers it, so a comment read again changes nothing and a user gets one notice of a comment
// (im_notice_follows does the same for each follow event, and keeps one per follower, user and
// day, migration 3); im_notice_likes names the like notice of each (anchor, room, window);
// im_notice_like_events holds the ids of the like events counted (pkg/aggregate.ClaimIDs),
// pruned once no copy of an event can arrive.
const (
	interactiveSQLite = `ALTER TABLE im_notices ADD COLUMN room_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE im_notices ADD COLUMN likes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE im_notices ADD COLUMN actors VARCHAR(1000) NOT NULL DEFAULT '';
CREATE TABLE im_notice_mentions (
	comment_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	PRIMARY KEY (comment_id, uid));
CREATE TABLE im_notice_likes (
	uid BIGINT NOT NULL,
	room_id BIGINT NOT NULL,
	window_start BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	PRIMARY KEY (uid, room_id, window_start));
CREATE TABLE im_notice_like_events (id BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL);
CREATE INDEX im_notice_like_events_at ON im_notice_like_events (applied_at);`
	interactiveMySQL = `ALTER TABLE im_notices ADD COLUMN room_id BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN likes BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN actors VARCHAR(1000) NOT NULL DEFAULT '';
CREATE TABLE im_notice_mentions (
	comment_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	PRIMARY KEY (comment_id, uid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_notice_likes (
	uid BIGINT NOT NULL,
	room_id BIGINT NOT NULL,
	window_start BIGINT NOT NULL,
	notice_id BIGINT NOT NULL,
	PRIMARY KEY (uid, room_id, window_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_notice_like_events (id BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL,
	KEY im_notice_like_events_at (applied_at)) ENGINE=InnoDB;`
)

// likeEventsTable holds the claimed like event ids.
const likeEventsTable = "im_notice_like_events"

// noticeCols are the columns scanNotice reads, of im_notices as n.
const noticeCols = "n.id, n.business, n.kind, n.lane, n.title, n.body, n.sender, n.created_at, n.room_id, n.likes, n.actors, n.reply_to"

type scanner interface{ Scan(dest ...any) error }

func scanNotice(r scanner) (Notice, error) {
	var n Notice
	var actors string
	if err := r.Scan(&n.ID, &n.Business, &n.Kind, &n.Lane, &n.Title, &n.Body, &n.Sender, &n.Ts, &n.Room, &n.Count, &actors, &n.ReplyTo); err != nil {
		return Notice{}, err
	}
	if actors != "" {
		if err := json.Unmarshal([]byte(actors), &n.Actors); err != nil {
			return Notice{}, fmt.Errorf("notice %d actors: %w", n.ID, err)
		}
	}
	return n, nil
}

func actorsJSON(a []Actor) string {
	if len(a) == 0 {
		return ""
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// insertOne stores a notice with its one recipient, delivered: in the inbox and unread.
func (s *sqlStore) insertOne(ctx context.Context, tx *sql.Tx, uid int64, n Notice) error {
	rec, _ := json.Marshal(Recipients{UIDs: []int64{uid}})
	if _, err := tx.ExecContext(ctx, `INSERT INTO im_notices (id, business, kind, lane, title, body, sender, created_at, recipients,
		total, done, finished, room_id, likes, actors, reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, 1, ?, ?, ?, ?)`,
		n.ID, n.Business, n.Kind, n.Lane, n.Title, n.Body, n.Sender, n.Ts, string(rec), n.Room, n.Count, actorsJSON(n.Actors), n.ReplyTo); err != nil {
		return fmt.Errorf("store notice: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO im_notice_inbox (uid, notice_id, kind) VALUES (?, ?, ?)", uid, n.ID, n.Kind); err != nil {
		return fmt.Errorf("notice inbox: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO im_notice_unread (uid, kind, unread) VALUES (?, ?, 1)"+
		s.db.UpsertTail([]string{"uid", "kind"}, "unread = unread + 1"), uid, n.Kind); err != nil {
		return fmt.Errorf("notice unread: %w", err)
	}
	return nil
}

func (s *sqlStore) ForComment(ctx context.Context, comment, uid int64, n Notice) (bool, error) {
	return s.once(ctx, "INTO im_notice_mentions (comment_id, uid, notice_id) VALUES (?, ?, ?)", []any{comment, uid, n.ID}, uid, n)
}

// followDay is the span in which one follower gives a user at most one follow notice.
const followDay = 24 * 60 * 60 * 1000 // ms

func (s *sqlStore) Follow(ctx context.Context, event, uid int64, n Notice) (bool, error) {
	day := n.Ts - n.Ts%followDay
	return s.once(ctx, "INTO im_notice_follows (event_id, uid, follower, day_start, notice_id) VALUES (?, ?, ?, ?, ?)",
		[]any{event, uid, n.Sender, day, n.ID}, uid, n)
}

// once claims what a notice is given for (claim: an insert-ignore's "INTO …" with its args)
// and, when the claim is new, puts n in uid's inbox, unread, in the same transaction: a
// second claim changes nothing (false).
func (s *sqlStore) once(ctx context.Context, claim string, args []any, uid int64, n Notice) (bool, error) {
	fresh := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.InsertIgnore()+" "+claim, args...)
		if err != nil {
			return fmt.Errorf("claim notice: %w", err)
		}
		if got, err := res.RowsAffected(); err != nil || got == 0 {
			return err // delivered before
		}
		fresh = true
		return s.insertOne(ctx, tx, uid, n)
	})
	return fresh, err
}

// maxLikers is how many of the latest likers a like notice names.
const maxLikers = 3

func (s *sqlStore) AddLikes(ctx context.Context, tx *sql.Tx, uid, window, newID int64, l LikeDelta) (Notice, bool, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT notice_id FROM im_notice_likes WHERE uid = ? AND room_id = ? AND window_start = ?"+s.db.ForUpdate(),
		uid, l.Room, window).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		actors := firstLikers(l.Likers)
		n := Notice{ID: newID, Business: "room", Kind: KindLike, Title: likeTitle(actors, l.Count),
			Sender: actors[0].UID, Ts: l.Ts, Room: l.Room, Count: l.Count, Actors: actors}
		if _, err := tx.ExecContext(ctx, "INSERT INTO im_notice_likes (uid, room_id, window_start, notice_id) VALUES (?, ?, ?, ?)",
			uid, l.Room, window, newID); err != nil {
			return Notice{}, false, fmt.Errorf("like notice: %w", err)
		}
		return n, true, s.insertOne(ctx, tx, uid, n)
	}
	if err != nil {
		return Notice{}, false, fmt.Errorf("like notice: %w", err)
	}
	n, err := scanNotice(tx.QueryRowContext(ctx, "SELECT "+noticeCols+" FROM im_notices n WHERE n.id = ?"+s.db.ForUpdate(), id))
	if err != nil {
		return Notice{}, false, fmt.Errorf("like notice %d: %w", id, err)
	}
	n.Count += l.Count
	n.Actors = firstLikers(append(slices.Clone(l.Likers), n.Actors...))
	n.Title = likeTitle(n.Actors, n.Count)
	n.Sender = n.Actors[0].UID
	// created_at stays: the notice keeps its place in the inbox (ordered by id).
	if _, err := tx.ExecContext(ctx, "UPDATE im_notices SET likes = ?, actors = ?, title = ?, sender = ? WHERE id = ?",
		n.Count, actorsJSON(n.Actors), n.Title, n.Sender, n.ID); err != nil {
		return Notice{}, false, fmt.Errorf("like notice %d: %w", id, err)
	}
	return n, false, nil
}

// firstLikers keeps the first maxLikers distinct users of likers (newest first).
func firstLikers(likers []Actor) []Actor {
	out := make([]Actor, 0, maxLikers)
	for _, a := range likers {
		if len(out) == maxLikers {
			break
		}
		if !slices.ContainsFunc(out, func(b Actor) bool { return b.UID == a.UID }) {
			out = append(out, a)
		}
	}
	return out
}

// likeTitle is a like notice's title: its latest likers and its likes, e.g. "alice, bob and
// carol liked your live (100 likes)". It does not count the distinct likers: none is kept.
func likeTitle(likers []Actor, count int64) string {
	names := make([]string, len(likers))
	for i, a := range likers {
		names[i] = a.Name
		if a.Name == "" {
			names[i] = fmt.Sprintf("user %d", a.UID)
		}
	}
	who := names[0]
	if n := len(names); n > 1 {
		who = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	if count == 1 {
		return who + " liked your live"
	}
	return fmt.Sprintf("%s liked your live (%d likes)", who, count)
}
