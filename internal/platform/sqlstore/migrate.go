package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Migration is one versioned schema step of a component, written for each dialect.
// Statements are separated by a semicolon at the end of a line.
type Migration struct {
	Version int
	Name    string
	SQLite  string
	MySQL   string
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component VARCHAR(64) NOT NULL,
	version INT NOT NULL,
	name VARCHAR(200) NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (component, version))`

// Migrate applies, in order, every migration of component not yet recorded in
// schema_migrations. On MySQL a named lock keeps two starting processes from racing.
func (db *DB) Migrate(ctx context.Context, component string, ms []Migration) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	defer conn.Close()
	if db.Dialect == MySQL {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('zhibo_migrate', 60)").Scan(&got); err != nil || got.Int64 != 1 {
			return fmt.Errorf("migrate %s: take lock: %v", component, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('zhibo_migrate')")
	}
	if _, err := conn.ExecContext(ctx, migrationsTable); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations WHERE component = ?", component)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	last := 0
	for _, m := range ms {
		if m.Version <= last {
			return fmt.Errorf("migrate %s: versions must increase (%d after %d)", component, m.Version, last)
		}
		last = m.Version
		if applied[m.Version] {
			continue
		}
		text := m.SQLite
		if db.Dialect == MySQL {
			text = m.MySQL
		}
		for _, stmt := range splitStatements(text) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s v%d (%s): %w", component, m.Version, m.Name, err)
			}
		}
		if _, err := conn.ExecContext(ctx,
			"INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)",
			component, m.Version, m.Name, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("migrate %s v%d: record: %w", component, m.Version, err)
		}
	}
	return nil
}

// Version is the highest applied migration of component (0 when none).
func (db *DB) Version(ctx context.Context, component string) (int, error) {
	var v sql.NullInt64
	err := db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations WHERE component = ?", component).Scan(&v)
	return int(v.Int64), err
}

func splitStatements(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";\n") {
		if p := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), ";")); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Applied is a migration recorded in schema_migrations.
type Applied struct {
	Version   int
	Name      string
	AppliedAt int64 // unix ms
}

// Status returns the migrations of component already applied and those of ms still to apply,
// without changing anything (a store never migrated has none applied).
func (db *DB) Status(ctx context.Context, component string, ms []Migration) ([]Applied, []Migration, error) {
	exists := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if db.Dialect == MySQL {
		exists = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'"
	}
	var n int
	if err := db.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, nil, fmt.Errorf("migration status %s: %w", component, err)
	}
	var applied []Applied
	if n > 0 {
		rows, err := db.QueryContext(ctx, "SELECT version, name, applied_at FROM schema_migrations WHERE component = ? ORDER BY version", component)
		if err != nil {
			return nil, nil, fmt.Errorf("migration status %s: %w", component, err)
		}
		defer rows.Close()
		for rows.Next() {
			var a Applied
			if err := rows.Scan(&a.Version, &a.Name, &a.AppliedAt); err != nil {
				return nil, nil, err
			}
			applied = append(applied, a)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	var pending []Migration
	for _, m := range ms {
		if !slices.ContainsFunc(applied, func(a Applied) bool { return a.Version == m.Version }) {
			pending = append(pending, m)
		}
	}
	return applied, pending, nil
}
