package account

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// pruneEvery spaces the deletions of expired revoked token ids (seconds). They run inline,
// after a revocation, at most once per interval per process; the DELETE is idempotent and
// rare, so it needs no once-per-cluster lease.
const pruneEvery = 60

func (s *sqlStore) SetPassword(ctx context.Context, uid int64, hash string) (int64, error) {
	return s.bump(ctx, uid, "UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ?", hash, uid)
}

func (s *sqlStore) BumpVersion(ctx context.Context, uid int64) (int64, error) {
	return s.bump(ctx, uid, "UPDATE users SET token_version = token_version + 1 WHERE id = ?", uid)
}

// bump runs an update that raises the token version and reads the version back. A concurrent
// bump between the two only makes the answer higher, which is still a version no revoked
// token carries.
func (s *sqlStore) bump(ctx context.Context, uid int64, q string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("bump token version of %d: %w", uid, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return 0, ErrUserNotFound
	}
	var v int64
	if err := s.db.QueryRowContext(ctx, "SELECT token_version FROM users WHERE id = ?", uid).Scan(&v); err != nil {
		return 0, fmt.Errorf("read token version of %d: %w", uid, err)
	}
	return v, nil
}

func (s *sqlStore) Revoke(ctx context.Context, uid int64, id string, exp, now int64) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO revoked_tokens (id, uid, expires_at) VALUES (?, ?, ?)", id, uid, exp)
	if err != nil && !sqlstore.IsDuplicate(err) {
		return fmt.Errorf("revoke token of %d: %w", uid, err)
	}
	if last := s.lastPrune.Load(); now-last >= pruneEvery && s.lastPrune.CompareAndSwap(last, now) {
		// An expired token is refused by its signature's expiry; its id need not be kept.
		if _, err := s.db.ExecContext(ctx, "DELETE FROM revoked_tokens WHERE expires_at <= ?", now); err != nil {
			return fmt.Errorf("prune revoked tokens: %w", err)
		}
	}
	return nil
}

func (s *sqlStore) Sessions(ctx context.Context, uid int64, now int64) (int64, []string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT u.token_version, r.id FROM users u "+
		"LEFT JOIN revoked_tokens r ON r.uid = u.id AND r.expires_at > ? WHERE u.id = ?", now, uid)
	if err != nil {
		return 0, nil, fmt.Errorf("read sessions of %d: %w", uid, err)
	}
	defer rows.Close()
	var ver int64
	var ids []string
	found := false
	for rows.Next() {
		var id sql.NullString
		if err := rows.Scan(&ver, &id); err != nil {
			return 0, nil, err
		}
		found = true
		if id.Valid {
			ids = append(ids, id.String)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	if !found {
		return 0, nil, ErrUserNotFound
	}
	return ver, ids, nil
}
