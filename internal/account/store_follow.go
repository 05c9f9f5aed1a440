package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// The follow graph. follows holds one row per edge, keyed (follower, followee) so that
// "does A follow B" is one point read; its two indexes serve the keyset pages of a user's
// followers (followee, created_at, follower) and of whom a user follows (follower,
// created_at, followee), newest first. follow_counts keeps each user's two counts in one row,
// changed in the transaction that adds or removes the edge, so a count is one point read.
func followsMigration(tableOpts string) string {
	return "CREATE TABLE follows (follower BIGINT NOT NULL, followee BIGINT NOT NULL, created_at BIGINT NOT NULL, " +
		"PRIMARY KEY (follower, followee))" + tableOpts + ";\n" +
		"CREATE INDEX follows_followers ON follows (followee, created_at, follower);\n" +
		"CREATE INDEX follows_following ON follows (follower, created_at, followee);\n" +
		"CREATE TABLE follow_counts (uid BIGINT NOT NULL PRIMARY KEY, followers BIGINT NOT NULL DEFAULT 0, " +
		"following BIGINT NOT NULL DEFAULT 0)" + tableOpts
}

func (s *sqlStore) Follow(ctx context.Context, follower, followee, now int64) (bool, error) {
	return s.changeEdge(ctx, follower, followee, 1, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, s.db.InsertIgnore()+" INTO follows (follower, followee, created_at) VALUES (?, ?, ?)",
			follower, followee, now)
	})
}

func (s *sqlStore) Unfollow(ctx context.Context, follower, followee int64) (bool, error) {
	return s.changeEdge(ctx, follower, followee, -1, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, "DELETE FROM follows WHERE follower = ? AND followee = ?", follower, followee)
	})
}

// edgeAttempts bounds the runs of an edge change that MySQL picked as a deadlock victim.
const edgeAttempts = 10

// changeEdge runs change (adding or removing the edge) and, when it changed a row, adds d to
// follower's following and followee's followers, in one transaction. The two users' count
// rows are locked first, the lower uid first, so changes of the same pair wait for each other
// before touching follows and its indexes; a transaction MySQL still picks as a deadlock
// victim (the indexes' gap locks between different pairs) runs again. It returns whether the
// edge changed.
func (s *sqlStore) changeEdge(ctx context.Context, follower, followee, d int64, change func(*sql.Tx) (sql.Result, error)) (bool, error) {
	lock := "INSERT INTO follow_counts (uid, followers, following) VALUES (?, 0, 0)" + s.db.UpsertTail([]string{"uid"}, "followers = followers")
	first, second := min(follower, followee), max(follower, followee)
	for attempt := 1; ; attempt++ {
		changed := false
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			for _, uid := range []int64{first, second} {
				if _, err := tx.ExecContext(ctx, lock, uid); err != nil {
					return fmt.Errorf("lock follow counts of %d: %w", uid, err)
				}
			}
			res, err := change(tx)
			if err != nil {
				return fmt.Errorf("change follow edge: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return err // as asked already: the counts stay
			}
			changed = true
			if _, err := tx.ExecContext(ctx, "UPDATE follow_counts SET following = following + ? WHERE uid = ?", d, follower); err != nil {
				return fmt.Errorf("following count of %d: %w", follower, err)
			}
			if _, err := tx.ExecContext(ctx, "UPDATE follow_counts SET followers = followers + ? WHERE uid = ?", d, followee); err != nil {
				return fmt.Errorf("follower count of %d: %w", followee, err)
			}
			return nil
		})
		if sqlstore.IsRetryable(err) && attempt < edgeAttempts && ctx.Err() == nil {
			continue
		}
		return changed, err
	}
}

func (s *sqlStore) FollowCounts(ctx context.Context, uid int64) (FollowCounts, error) {
	var c FollowCounts
	err := s.db.QueryRowContext(ctx, "SELECT followers, following FROM follow_counts WHERE uid = ?", uid).Scan(&c.Followers, &c.Following)
	if errors.Is(err, sql.ErrNoRows) {
		return FollowCounts{}, nil
	}
	if err != nil {
		return FollowCounts{}, fmt.Errorf("follow counts of %d: %w", uid, err)
	}
	return c, nil
}

// followsPerQuery bounds the pairs of one query: SQLite nests each OR of sqlstore.Pairs one
// level deeper, and refuses expressions deeper than 1000.
const followsPerQuery = 200

func (s *sqlStore) Follows(ctx context.Context, pairs []FollowPair) ([]bool, error) {
	found := map[FollowPair]bool{}
	for rest := pairs; len(rest) > 0; {
		n := min(len(rest), followsPerQuery)
		args := make([]any, 0, 2*n)
		for _, p := range rest[:n] {
			args = append(args, p.Follower, p.Followee)
		}
		err := sqlstore.Each(ctx, s.db, "SELECT follower, followee FROM follows WHERE "+sqlstore.Pairs("follower", "followee", n), args,
			func(r *sql.Rows) error {
				var p FollowPair
				err := r.Scan(&p.Follower, &p.Followee)
				found[p] = true
				return err
			})
		if err != nil {
			return nil, fmt.Errorf("follows: %w", err)
		}
		rest = rest[n:]
	}
	out := make([]bool, len(pairs))
	for i, p := range pairs {
		out[i] = found[p]
	}
	return out, nil
}

// Follow lists: the followers of a user (side followersSide) or whom they follow.
const (
	followersSide = iota
	followingSide
)

func (s *sqlStore) FollowPage(ctx context.Context, uid int64, side int, after FollowCursor, limit int) ([]Followed, error) {
	self, other := "followee", "follower"
	if side == followingSide {
		self, other = "follower", "followee"
	}
	q := "SELECT " + other + ", created_at FROM follows WHERE " + self + " = ?"
	args := []any{uid}
	if after != (FollowCursor{}) {
		q += " AND (created_at < ? OR (created_at = ? AND " + other + " < ?))"
		args = append(args, after.At, after.At, after.UID)
	}
	q += " ORDER BY created_at DESC, " + other + " DESC LIMIT ?"
	args = append(args, limit)
	var out []Followed
	err := sqlstore.Each(ctx, s.db, q, args, func(r *sql.Rows) error {
		var f Followed
		err := r.Scan(&f.UID, &f.At)
		out = append(out, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("follow page of %d: %w", uid, err)
	}
	return out, nil
}
