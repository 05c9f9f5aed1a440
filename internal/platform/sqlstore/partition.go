package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Monthly partitions. A MySQL/MariaDB table keyed by a Snowflake id (pkg/ids) can be split by
// time, because an id range is a time range: the table is created (or altered) with
//
//	PARTITION BY RANGE (id) (PARTITION pmax VALUES LESS THAN MAXVALUE)
//
// (or the name of its id column in place of id: a timeline's msg_id), and MySQL wants that
// column in every unique key of the table.
//
// and MaintainPartitions splits pmax into one partition per calendar month (UTC), named
// pYYYYMM and holding the ids below ids.First of the next month's first instant (the first
// partition also holds everything older). A lookup by id reads one partition; dropping an old
// month is a metadata change, not a DELETE of its rows.
//
// SQLite tables are not partitioned (SQLite has no partitions): the all-in-one store is one
// file used by one process, and MaintainPartitions does nothing there.

// MaxPartition is the name of the last partition, which holds the ids of the months not split
// off yet; the maintainer splits it while it is still empty, so no row moves.
const MaxPartition = "pmax"

// Partitioned is a table kept in monthly partitions by its BIGINT id column.
type Partitioned struct {
	// Table is the table's name (letters, digits and '_').
	Table string
	// Ahead is how many months after the current one have their partitions made in advance
	// (0..MaxAhead): a pass that runs late still finds the new month split off.
	Ahead int
	// Retention drops the partitions whose every id is older than now - Retention
	// (0 = keep every month, else at least MinRetention). A month is dropped whole, so rows
	// stay up to a month longer.
	Retention time.Duration
}

// The limits of Partitioned: the most months made in advance, and the shortest retention
// (a month is the unit dropped, so a shorter one would promise what is not done).
const (
	MaxAhead     = 120
	MinRetention = 30 * 24 * time.Hour
)

var tableName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Validate checks the fields.
func (p Partitioned) Validate() error {
	switch {
	case !tableName.MatchString(p.Table):
		return fmt.Errorf("partitioned table %q: want letters, digits and _", p.Table)
	case p.Ahead < 0 || p.Ahead > MaxAhead:
		return fmt.Errorf("partitions of %s: %d months ahead, want 0..%d", p.Table, p.Ahead, MaxAhead)
	case p.Retention != 0 && p.Retention < MinRetention:
		return fmt.Errorf("partitions of %s: retention %s, want 0 (keep) or at least %s", p.Table, p.Retention, MinRetention)
	}
	return nil
}

// Partition is one partition of a table partitioned by range.
type Partition struct {
	Name string
	// Below is the partition's VALUES LESS THAN bound (math.MaxInt64 for MAXVALUE).
	Below int64
	// Rows is the engine's estimate of the partition's rows (exact after ANALYZE TABLE).
	Rows int64
}

// Partitions lists the partitions of a MySQL table in order. A table that is not partitioned
// is an error.
func (db *DB) Partitions(ctx context.Context, table string) ([]Partition, error) {
	rows, err := db.QueryContext(ctx, `SELECT PARTITION_NAME, PARTITION_DESCRIPTION, TABLE_ROWS
		FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
		ORDER BY PARTITION_ORDINAL_POSITION`, table)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []Partition
	for rows.Next() {
		var (
			name, desc sql.NullString
			n          sql.NullInt64
		)
		if err := rows.Scan(&name, &desc, &n); err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", table, err)
		}
		if !name.Valid {
			return nil, fmt.Errorf("partitions of %s: the table is not partitioned", table)
		}
		p := Partition{Name: name.String, Below: math.MaxInt64, Rows: n.Int64}
		if desc.String != "MAXVALUE" {
			if p.Below, err = strconv.ParseInt(desc.String, 10, 64); err != nil {
				return nil, fmt.Errorf("partitions of %s: %s is not a range partition (%q)", table, p.Name, desc.String)
			}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", table, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("partitions of %s: no such table", table)
	}
	return out, nil
}

// PartitionChange is what one MaintainPartitions pass did.
type PartitionChange struct {
	Added   []string // partitions split off pmax, oldest first
	Dropped []string // partitions dropped by the retention, oldest first
	// Moved: pmax held rows when it was split (the table was partitioned with rows in it, or
	// no pass ran for longer than Ahead months), so the split copied them.
	Moved bool
	// Partitions is how many the table has after the pass, pmax included.
	Partitions int
}

// partitionAttempts bounds the passes' rereads after a concurrent maintainer changed the table.
const partitionAttempts = 5

// MaintainPartitions makes sure p.Table has the partitions of now's month and of the p.Ahead
// months after it, splitting them off pmax, and drops the partitions wholly older than
// p.Retention. It reads what exists from information_schema, so a second pass changes
// nothing; a concurrent pass that got there first (MariaDB: duplicate partition name, bounds
// not increasing, partition to drop not found) counts as done and the table is read again.
// It does nothing on SQLite.
func (db *DB) MaintainPartitions(ctx context.Context, p Partitioned, now time.Time) (PartitionChange, error) {
	var ch PartitionChange
	if db.Dialect != MySQL {
		return ch, nil
	}
	if err := p.Validate(); err != nil {
		return ch, err
	}
	var raced error
	for range partitionAttempts {
		parts, err := db.Partitions(ctx, p.Table)
		if err != nil {
			return ch, err
		}
		if last := parts[len(parts)-1]; last.Name != MaxPartition || last.Below != math.MaxInt64 {
			return ch, fmt.Errorf("partitions of %s: the last is %s, want %s VALUES LESS THAN MAXVALUE", p.Table, last.Name, MaxPartition)
		}
		add, err := db.monthsToAdd(ctx, p, parts, now)
		if err != nil {
			return ch, err
		}
		if len(add) > 0 {
			moved, err := db.split(ctx, p.Table, add)
			if concurrentChange(err) {
				raced = err
				continue
			}
			if err != nil {
				return ch, err
			}
			ch.Moved = ch.Moved || moved
			for _, m := range add {
				ch.Added = append(ch.Added, m.name)
			}
			continue
		}
		drop := toDrop(p, parts, now)
		if len(drop) > 0 {
			_, err := db.ExecContext(ctx, "ALTER TABLE "+p.Table+" DROP PARTITION "+strings.Join(drop, ", "))
			if concurrentChange(err) {
				raced = err
				continue
			}
			if err != nil {
				return ch, fmt.Errorf("partitions of %s: drop %s: %w", p.Table, strings.Join(drop, ", "), err)
			}
			ch.Dropped = append(ch.Dropped, drop...)
			continue
		}
		ch.Partitions = len(parts)
		return ch, nil
	}
	return ch, fmt.Errorf("partitions of %s: still changing after %d reads (by another maintainer?): %w", p.Table, partitionAttempts, raced)
}

// month is a partition to split off pmax.
type month struct {
	name  string
	below int64
}

// monthStart is the first instant of t's month in UTC, moved by add months.
func monthStart(t time.Time, add int) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+time.Month(add), 1, 0, 0, 0, 0, time.UTC)
}

// PartitionName is the name of the partition of t's month (UTC): p202612.
func PartitionName(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("p%04d%02d", t.Year(), int(t.Month()))
}

// monthsToAdd are the months after the last bounded partition up to now's month + Ahead.
// With pmax alone, the first is the month of the table's oldest id (or now's, when empty).
func (db *DB) monthsToAdd(ctx context.Context, p Partitioned, parts []Partition, now time.Time) ([]month, error) {
	var from time.Time
	if len(parts) > 1 {
		from = ids.Time(parts[len(parts)-2].Below)
	} else {
		var oldest sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT MIN(id) FROM "+p.Table).Scan(&oldest); err != nil {
			return nil, fmt.Errorf("partitions of %s: oldest id: %w", p.Table, err)
		}
		from = now
		if oldest.Valid && ids.Time(oldest.Int64).Before(now) {
			from = ids.Time(oldest.Int64)
		}
	}
	var out []month
	last := monthStart(now, p.Ahead)
	for m := monthStart(from, 0); !m.After(last); m = monthStart(m, 1) {
		below := ids.First(monthStart(m, 1))
		if len(parts) > 1 && below <= parts[len(parts)-2].Below {
			continue // the last bound sits inside m: m is covered already
		}
		out = append(out, month{name: PartitionName(m), below: below})
	}
	return out, nil
}

// split reorganizes pmax into the months and a new pmax, and reports whether pmax held rows
// (which the reorganization then copied into the months).
func (db *DB) split(ctx context.Context, table string, add []month) (bool, error) {
	var one int
	err := db.QueryRowContext(ctx, "SELECT 1 FROM "+table+" PARTITION ("+MaxPartition+") LIMIT 1").Scan(&one)
	moved := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("partitions of %s: look into %s: %w", table, MaxPartition, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ALTER TABLE %s REORGANIZE PARTITION %s INTO (", table, MaxPartition)
	for _, m := range add {
		fmt.Fprintf(&b, "PARTITION %s VALUES LESS THAN (%d), ", m.name, m.below)
	}
	fmt.Fprintf(&b, "PARTITION %s VALUES LESS THAN MAXVALUE)", MaxPartition)
	if _, err := db.ExecContext(ctx, b.String()); err != nil {
		return false, fmt.Errorf("partitions of %s: split %s: %w", table, MaxPartition, err)
	}
	return moved, nil
}

// toDrop are the bounded partitions whose every id is older than now - Retention. The
// partition of now's month is never among them: its bound is in the future.
func toDrop(p Partitioned, parts []Partition, now time.Time) []string {
	if p.Retention == 0 {
		return nil
	}
	cutoff := ids.First(now.Add(-p.Retention))
	var out []string
	for _, pt := range parts[:len(parts)-1] {
		if pt.Below <= cutoff {
			out = append(out, pt.Name)
		}
	}
	return out
}

// MariaDB and MySQL errors of a partition change that another maintainer's change made moot.
const (
	errRangeNotIncreasing = 1493 // ER_RANGE_NOT_INCREASING_ERROR: pmax starts past our months
	errDropPartitionGone  = 1507 // ER_DROP_PARTITION_NON_EXISTENT: dropped already
	errSamePartitionName  = 1517 // ER_SAME_NAME_PARTITION: split off already
)

// concurrentChange reports whether err says another maintainer changed the partitions first.
func concurrentChange(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case errRangeNotIncreasing, errDropPartitionGone, errSamePartitionName:
		return true
	}
	return false
}
