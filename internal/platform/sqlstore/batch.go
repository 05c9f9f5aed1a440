package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Helpers of stores that write in batches: multi-row inserts and upserts, IN lists, row scans.

// Marks is n comma-separated placeholders, for IN lists and VALUES rows.
func Marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// Pairs matches n (a, b) pairs: "((a = ? AND b = ?) OR …)", the arguments alternating a and
// b. Both engines seek the index on (a, b) once per pair. "a IN (…) AND b IN (…)" would seek
// every combination (n² for n distinct pairs), and SQLite scans the table for a row value
// "(a, b) IN (VALUES …)".
func Pairs(a, b string, n int) string {
	one := "(" + a + " = ? AND " + b + " = ?)"
	return "(" + strings.TrimSuffix(strings.Repeat(one+" OR ", n), " OR ") + ")"
}

// Querier is what reads need of a pool, a connection or a transaction.
type Querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// Each runs q and calls fn for each row.
func Each(ctx context.Context, db Querier, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ByID reads the rows query selects for ids (query ends with "WHERE <id column> IN"), each
// keyed by the id scan reads of it: one statement, nothing for no ids.
func ByID[T any](ctx context.Context, db Querier, query string, ids []int64, scan func(*sql.Rows) (int64, T, error)) (map[int64]T, error) {
	out := make(map[int64]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	err := Each(ctx, db, query+" ("+Marks(len(ids))+")", args, func(r *sql.Rows) error {
		id, v, err := scan(r)
		if err == nil {
			out[id] = v
		}
		return err
	})
	return out, err
}

// InsertRows runs head ("INSERT … INTO t (a, b) VALUES ") followed by n rows of width
// placeholders, row(i) giving the values of row i, and then tail (an upsert clause, say). It
// returns the rows affected. n = 0 runs nothing.
func InsertRows(ctx context.Context, tx *sql.Tx, head string, width, n int, row func(i int) []any, tail ...string) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	var b strings.Builder
	b.WriteString(head)
	one := "(" + Marks(width) + ")"
	args := make([]any, 0, n*width)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
		args = append(args, row(i)...)
	}
	for _, t := range tail {
		b.WriteString(t)
	}
	res, err := tx.ExecContext(ctx, b.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", tableOf(head), err)
	}
	return res.RowsAffected()
}

// tableOf names the table of an INSERT statement, for errors.
func tableOf(head string) string {
	f := strings.Fields(head)
	for i, w := range f {
		if w == "INTO" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return head
}

// UpsertTail is the dialect's "on conflict update" clause after a multi-row VALUES list (see
// Upsert for one row): assignments use EXCLUDED(col) for the proposed value, GREATEST(a, b)
// for the larger of two and LEAST(a, b) for the smaller.
func (db *DB) UpsertTail(key []string, assignments ...string) string {
	set := strings.Join(assignments, ", ")
	if db.Dialect == MySQL {
		return " ON DUPLICATE KEY UPDATE " + excluded(set, "VALUES(", ")")
	}
	return " ON CONFLICT(" + strings.Join(key, ",") + ") DO UPDATE SET " + excluded(strings.NewReplacer("GREATEST(", "MAX(", "LEAST(", "MIN(").Replace(set), "excluded.", "")
}

// ForUpdate is the dialect's row lock of a SELECT in a transaction ("" on SQLite, whose
// write transactions hold the whole database).
func (db *DB) ForUpdate() string {
	if db.Dialect == MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// IsRetryable reports a MySQL deadlock or lock wait timeout: the transaction may simply run again.
func IsRetryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}
