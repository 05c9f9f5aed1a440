// Package sqltest runs store tests against every engine: embedded SQLite always, and the real
// MySQL/MariaDB named by ZHIBO_TEST_MYSQL_DSN when it is set (each test gets a fresh database).
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// EnvMySQL names the environment variable with the MySQL/MariaDB DSN for integration tests.
const EnvMySQL = "ZHIBO_TEST_MYSQL_DSN"

// ForEach runs fn once per engine as subtests "sqlite" and "mysql". Without the DSN the mysql
// subtest is skipped (CI sets it and fails on any skip).
func ForEach(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, OpenMySQL(t)) })
}

// OpenSQLite opens a fresh SQLite database in t's temp dir.
func OpenSQLite(t testing.TB) *sqlstore.DB {
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{Driver: "sqlite"}, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// OpenMySQL opens a fresh database (NewMySQLDatabase) on the server of ZHIBO_TEST_MYSQL_DSN.
// It skips t when the variable is unset.
func OpenMySQL(t testing.TB) *sqlstore.DB {
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{Driver: "mysql", DSN: NewMySQLDatabase(t)}, "")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// NewMySQLDatabase creates a uniquely named, empty database on the server of
// ZHIBO_TEST_MYSQL_DSN, returns its DSN (for a pool of the test's own, or a child process)
// and drops it when t ends. It skips t when the variable is unset.
func NewMySQLDatabase(t testing.TB) string {
	dsn := MySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	name := "zhibo_t_" + randHex(6)
	admin, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Cleanup(func() {
		if a, err := sql.Open("mysql", dsn); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name)
			a.Close()
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MySQLDSN returns ZHIBO_TEST_MYSQL_DSN, the server's own DSN (not a fresh database: see
// NewMySQLDatabase), skipping t when it is unset.
func MySQLDSN(t testing.TB) string {
	dsn := os.Getenv(EnvMySQL)
	if dsn == "" {
		t.Skip(EnvMySQL + " not set: MySQL/MariaDB integration test skipped")
	}
	return dsn
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
