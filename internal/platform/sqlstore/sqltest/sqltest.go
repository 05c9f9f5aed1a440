// Package sqltest runs store tests against every engine: embedded SQLite always, and the real
// MySQL/MariaDB named by ZHIBO_TEST_MYSQL_DSN when it is set (each test gets a fresh database).
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// Server is a MariaDB server of the test's own (mariadbd from the system, a data directory in
// t's temp dir, a free loopback port), which the test may stop and start again to take the
// database away from the processes using it. NewServer skips t where mariadbd is missing.
type Server struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
}

// NewServer installs and starts a private MariaDB; it stops when t ends.
func NewServer(t testing.TB) *Server {
	for _, bin := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				t.Skipf("%s not installed: private MariaDB test skipped", bin)
			}
		}
	}
	s := &Server{t: t, dir: t.TempDir()}
	out, err := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(s.dir, "data"),
		"--user=root", "--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	require.NoError(t, err, "mariadb-install-db: %s", out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// DSN is the DSN of database name on this server, created if missing.
func (s *Server) DSN(name string) string {
	admin, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", s.port))
	require.NoError(s.t, err)
	defer admin.Close()
	_, err = admin.Exec("CREATE DATABASE IF NOT EXISTS " + name)
	require.NoError(s.t, err)
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", s.port, name)
}

// Start starts the server (again) and waits until it answers.
func (s *Server) Start() {
	bin := "mariadbd"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "/usr/sbin/mariadbd"
	}
	s.cmd = exec.Command(bin, "--no-defaults", "--datadir="+filepath.Join(s.dir, "data"), "--user=root",
		fmt.Sprintf("--port=%d", s.port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(s.dir, "sock"),
		"--skip-log-bin", "--innodb-buffer-pool-size=32M")
	log, err := os.Create(filepath.Join(s.dir, "mariadbd.log"))
	require.NoError(s.t, err)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	require.NoError(s.t, s.cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", s.port))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("private MariaDB did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down (SIGTERM, waiting for it); its data stays for Start.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// ExplainPartitions is the partitions column of EXPLAIN for the first table q reads: the
// partitions MySQL/MariaDB will read (MariaDB: EXPLAIN PARTITIONS; MySQL 8 shows the column
// always), comma-separated, empty when the plan reads none.
func ExplainPartitions(t testing.TB, db *sqlstore.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN PARTITIONS "+q, args...)
	if err != nil && strings.Contains(err.Error(), "syntax") {
		rows, err = db.Query("EXPLAIN "+q, args...)
	}
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	require.True(t, rows.Next(), "EXPLAIN returned no row")
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	require.NoError(t, rows.Scan(ptrs...))
	for i, c := range cols {
		if c == "partitions" {
			return vals[i].String
		}
	}
	t.Fatalf("EXPLAIN has no partitions column: %v", cols)
	return ""
}
