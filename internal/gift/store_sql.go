package gift

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// sqlStore is the Store on SQLite or MySQL.
type sqlStore struct {
	db      *sqlstore.DB
	initial int64 // balance of a new wallet
}

func newSQLStore(db *sqlstore.DB, initialBalance int64) *sqlStore {
	return &sqlStore{db: db, initial: initialBalance}
}

func (s *sqlStore) Migrate(ctx context.Context) error {
	return s.db.Migrate(ctx, "gift", migrations)
}

func (s *sqlStore) Balance(ctx context.Context, uid int64) (int64, error) {
	for range 2 {
		var b int64
		err := s.db.QueryRowContext(ctx, "SELECT balance FROM gift_wallets WHERE uid = ?", uid).Scan(&b)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("read wallet %d: %w", uid, err)
		}
		if _, err := s.ensureWallet(ctx, uid); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("read wallet %d: still missing after creation", uid)
}

// ensureWallet creates uid's wallet with the initial balance unless it exists. It runs as its
// own statement, outside any transaction that then debits the wallet: on MySQL an insert into
// a gap that a concurrent transaction's UPDATE has locked would otherwise deadlock.
func (s *sqlStore) ensureWallet(ctx context.Context, uid int64) (created bool, err error) {
	res, err := s.db.ExecContext(ctx, s.db.InsertIgnore()+
		" INTO gift_wallets (uid, balance, updated_at) VALUES (?, ?, ?)", uid, s.initial, time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("create wallet %d: %w", uid, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// errNoWallet tells PlaceOrder to create the wallet and try once more.
var errNoWallet = errors.New("wallet does not exist")

func (s *sqlStore) PlaceOrder(ctx context.Context, o Order) (Order, bool, error) {
	for attempt := 0; ; attempt++ {
		stored, replayed, err := s.placeOnce(ctx, o)
		switch {
		case errors.Is(err, errNoWallet) && attempt == 0:
			if _, err := s.ensureWallet(ctx, o.UID); err != nil {
				return Order{}, false, err
			}
			continue
		case sqlstore.IsDuplicate(err):
			// A concurrent request with the same key committed first and ours rolled back,
			// debit included: answer with the winner's order.
			won, err := orderByKey(ctx, s.db, o.UID, o.Key)
			if err != nil {
				return Order{}, false, fmt.Errorf("read winning order: %w", err)
			}
			if !won.sameRequest(o) {
				return Order{}, false, ErrKeyReused
			}
			return won, true, nil
		case err != nil:
			return Order{}, false, err
		}
		return stored, replayed, nil
	}
}

// placeOnce is one attempt of PlaceOrder in one transaction.
func (s *sqlStore) placeOnce(ctx context.Context, o Order) (stored Order, replayed bool, err error) {
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		prev, err := orderByKey(ctx, tx, o.UID, o.Key)
		switch {
		case err == nil && prev.sameRequest(o):
			stored, replayed = prev, true
			return nil
		case err == nil:
			return ErrKeyReused
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("look up order by key: %w", err)
		}
		res, err := tx.ExecContext(ctx,
			"UPDATE gift_wallets SET balance = balance - ?, updated_at = ? WHERE uid = ? AND balance >= ?",
			o.Total, o.CreatedAt, o.UID, o.Total)
		if err != nil {
			return fmt.Errorf("debit wallet: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("debit wallet: %w", err)
		}
		if n == 0 {
			var have int64
			switch err := tx.QueryRowContext(ctx, "SELECT balance FROM gift_wallets WHERE uid = ?", o.UID).Scan(&have); {
			case errors.Is(err, sql.ErrNoRows):
				return errNoWallet
			case err != nil:
				return fmt.Errorf("read wallet: %w", err)
			}
			return ErrInsufficient.Withf("insufficient balance: have %d, need %d", have, o.Total)
		}
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM gift_wallets WHERE uid = ?", o.UID).Scan(&o.Balance); err != nil {
			return fmt.Errorf("read balance after debit: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO gift_orders ("+orderCols+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
			o.ID, o.UID, o.Key, o.RoomID, o.AnchorUID, o.GiftID, o.GiftName, o.CoinType,
			o.Num, o.Price, o.Total, o.Balance, o.CreatedAt); err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		stored = o
		return nil
	})
	return stored, replayed, err
}

const orderCols = "id, uid, idem_key, room_id, anchor_uid, gift_id, gift_name, coin_type, num, price, total, balance, created_at"

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func orderByKey(ctx context.Context, q querier, uid int64, key string) (Order, error) {
	return scanOrder(q.QueryRowContext(ctx,
		"SELECT "+orderCols+" FROM gift_orders WHERE uid = ? AND idem_key = ?", uid, key))
}

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.UID, &o.Key, &o.RoomID, &o.AnchorUID, &o.GiftID, &o.GiftName, &o.CoinType,
		&o.Num, &o.Price, &o.Total, &o.Balance, &o.CreatedAt)
	return o, err
}

func (s *sqlStore) Unpublished(ctx context.Context, beforeMs int64, limit int) ([]Order, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+orderCols+
		" FROM gift_orders WHERE published = 0 AND created_at < ? ORDER BY id LIMIT ?", beforeMs, limit)
	if err != nil {
		return nil, fmt.Errorf("list unpublished orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list unpublished orders: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (s *sqlStore) MarkPublished(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), inChunk)
		ph, args := inList(ids[:n])
		if _, err := s.db.ExecContext(ctx, "UPDATE gift_orders SET published = 1 WHERE id IN ("+ph+")", args...); err != nil {
			return fmt.Errorf("mark orders published: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// inChunk bounds the ids of one IN (...) list.
const inChunk = 500

// inList renders placeholders and arguments for an IN list.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(ids)), ","), args
}
