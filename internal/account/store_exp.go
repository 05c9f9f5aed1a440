package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// addExpTx adds each user's folded experience within tx, in uid order so that concurrent
// folds lock rows in one order. It returns how many users it wrote.
func addExpTx(ctx context.Context, tx *sql.Tx, deltas map[int64]int64) (int, error) {
	for _, uid := range slices.Sorted(maps.Keys(deltas)) {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET exp = exp + ? WHERE id = ?", deltas[uid], uid); err != nil {
			return 0, fmt.Errorf("add exp of %d: %w", uid, err)
		}
	}
	return len(deltas), nil
}

func (s *sqlStore) Exp(ctx context.Context, uid int64) (int64, error) {
	var exp int64
	err := s.db.QueryRowContext(ctx, "SELECT exp FROM users WHERE id = ?", uid).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrUserNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read exp of %d: %w", uid, err)
	}
	return exp, nil
}
