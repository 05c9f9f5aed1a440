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
	fresh := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.InsertIgnore()+" INTO follows (follower, followee, created_at) VALUES (?, ?, ?)",
			follower, followee, now)
		if err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // followed before: the counts stay
		}
		fresh = true
		return s.addCounts(ctx, tx, follower, followee, 1)
	})
	return fresh, err
}

func (s *sqlStore) Unfollow(ctx context.Context, follower, followee int64) (bool, error) {
	gone := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM follows WHERE follower = ? AND followee = ?", follower, followee)
		if err != nil {
			return fmt.Errorf("unfollow: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // not following: the counts stay
		}
		gone = true
		return s.addCounts(ctx, tx, follower, followee, -1)
	})
	return gone, err
}

// addCounts adds d to follower's following and followee's followers within tx, the lower uid
// first so that two transactions on the same pair of users lock the rows in one order.
func (s *sqlStore) addCounts(ctx context.Context, tx *sql.Tx, follower, followee, d int64) error {
	type change struct {
		uid                  int64
		followers, following int64
	}
	cs := []change{{follower, 0, d}, {followee, d, 0}}
	if followee < follower {
		cs[0], cs[1] = cs[1], cs[0]
	}
	q := "INSERT INTO follow_counts (uid, followers, following) VALUES (?, ?, ?)" +
		s.db.UpsertTail([]string{"uid"}, "followers = followers + EXCLUDED(followers)", "following = following + EXCLUDED(following)")
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, q, c.uid, c.followers, c.following); err != nil {
			return fmt.Errorf("follow counts of %d: %w", c.uid, err)
		}
	}
	return nil
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
