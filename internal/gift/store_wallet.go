package gift

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

const creditCols = "id, uid, amount, balance, actor_uid, reason, idem_key, created_at"

func (s *sqlStore) Credit(ctx context.Context, c Credit) (Credit, bool, error) {
	if _, err := s.ensureWallet(ctx, c.UID); err != nil {
		return Credit{}, false, err
	}
	stored, replayed, err := s.creditOnce(ctx, c)
	if sqlstore.IsDuplicate(err) {
		// A concurrent request with the same key committed first and ours rolled back, credit
		// included: answer with the winner's.
		won, err := creditByKey(ctx, s.db, c.Key)
		if err != nil {
			return Credit{}, false, fmt.Errorf("read winning credit: %w", err)
		}
		if !won.sameRequest(c) {
			return Credit{}, false, ErrKeyReused
		}
		return won, true, nil
	}
	return stored, replayed, err
}

// creditOnce is one attempt of Credit in one transaction.
func (s *sqlStore) creditOnce(ctx context.Context, c Credit) (stored Credit, replayed bool, err error) {
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		prev, err := creditByKey(ctx, tx, c.Key)
		switch {
		case err == nil && prev.sameRequest(c):
			stored, replayed = prev, true
			return nil
		case err == nil:
			return ErrKeyReused
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("look up credit by key: %w", err)
		}
		res, err := tx.ExecContext(ctx,
			"UPDATE gift_wallets SET balance = balance + ?, updated_at = ? WHERE uid = ? AND balance <= ?",
			c.Amount, c.CreatedAt, c.UID, MaxBalance-c.Amount)
		if err != nil {
			return fmt.Errorf("credit wallet: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("credit wallet: %w", err)
		} else if n == 0 {
			return ErrBalanceLimit
		}
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM gift_wallets WHERE uid = ?", c.UID).Scan(&c.Balance); err != nil {
			return fmt.Errorf("read balance after credit: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO gift_wallet_credits ("+creditCols+") VALUES (?,?,?,?,?,?,?,?)",
			c.ID, c.UID, c.Amount, c.Balance, c.ActorUID, c.Reason, c.Key, c.CreatedAt); err != nil {
			return fmt.Errorf("insert credit: %w", err)
		}
		stored = c
		return nil
	})
	return stored, replayed, err
}

func creditByKey(ctx context.Context, q querier, key string) (Credit, error) {
	return scanCredit(q.QueryRowContext(ctx, "SELECT "+creditCols+" FROM gift_wallet_credits WHERE idem_key = ?", key))
}

func scanCredit(row interface{ Scan(...any) error }) (Credit, error) {
	var c Credit
	err := row.Scan(&c.ID, &c.UID, &c.Amount, &c.Balance, &c.ActorUID, &c.Reason, &c.Key, &c.CreatedAt)
	return c, err
}

func (s *sqlStore) Credits(ctx context.Context, uid, before int64, limit int) ([]Credit, error) {
	q, args := "SELECT "+creditCols+" FROM gift_wallet_credits WHERE 1 = 1", []any{}
	if uid > 0 {
		q, args = q+" AND uid = ?", append(args, uid)
	}
	if before > 0 {
		q, args = q+" AND id < ?", append(args, before)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list credits: %w", err)
	}
	defer rows.Close()
	out := []Credit{}
	for rows.Next() {
		c, err := scanCredit(rows)
		if err != nil {
			return nil, fmt.Errorf("list credits: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
