package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

var testMigrations = []sqlstore.Migration{
	{Version: 1, Name: "scores",
		SQLite: "CREATE TABLE scores (k VARCHAR(64) PRIMARY KEY, v BIGINT NOT NULL);",
		MySQL:  "CREATE TABLE scores (k VARCHAR(64) PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;"},
	{Version: 2, Name: "names",
		SQLite: "CREATE TABLE names (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(64) NOT NULL UNIQUE);\nCREATE INDEX names_by_name ON names (name);",
		MySQL:  "CREATE TABLE names (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE) ENGINE=InnoDB;\nCREATE INDEX names_by_name ON names (name);"},
}

func TestMigrateUpsertDuplicate(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "demo", testMigrations[:1]))
		v, err := db.Version(ctx, "demo")
		require.NoError(t, err)
		require.Equal(t, 1, v)
		// Re-running applies only what is new.
		require.NoError(t, db.Migrate(ctx, "demo", testMigrations))
		require.NoError(t, db.Migrate(ctx, "demo", testMigrations))
		v, _ = db.Version(ctx, "demo")
		require.Equal(t, 2, v)

		up := db.Upsert("scores", []string{"k", "v"}, []string{"k"}, "v = v + EXCLUDED(v)")
		for _, d := range []int{3, 4, -2} {
			_, err := db.ExecContext(ctx, up, "anchor", d)
			require.NoError(t, err)
		}
		var got int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT v FROM scores WHERE k = ?", "anchor").Scan(&got))
		require.Equal(t, 5, got)

		_, err = db.ExecContext(ctx, "INSERT INTO names (name) VALUES (?)", "a")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO names (name) VALUES (?)", "a")
		require.True(t, sqlstore.IsDuplicate(err), "%v", err)
		_, err = db.ExecContext(ctx, db.InsertIgnore()+" INTO names (name) VALUES (?)", "a")
		require.NoError(t, err)

		// A failing transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO names (name) VALUES (?)", "b")
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM names").Scan(&n))
		require.Equal(t, 1, n)
	})
}

func TestMigrateRejectsUnorderedVersions(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	err := db.Migrate(context.Background(), "demo", []sqlstore.Migration{testMigrations[1], testMigrations[0]})
	require.ErrorContains(t, err, "versions must increase")
}

// The SQLite file and the folder created for it are owner-only, the WAL files too: they hold
// password hashes and stream keys.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions")
	}
	dir := filepath.Join(t.TempDir(), "data")
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{}, dir)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Migrate(context.Background(), "demo", testMigrations[:1]))
	want := map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "zhibo.db"): 0o600,
		filepath.Join(dir, "zhibo.db-wal"): 0o600}
	for p, perm := range want {
		info, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, perm, info.Mode().Perm(), p)
	}
}

// With read_dsn, Reader goes to the replica and everything else to the primary; a component's
// own store section replaces the shared one field by field, and a DSN of its own drops the
// shared replica (which replicates another database).
func TestReadReplica(t *testing.T) {
	primary, replica := sqltest.NewMySQLDatabase(t), sqltest.NewMySQLDatabase(t)
	ctx := context.Background()
	for dsn, v := range map[string]int{primary: 1, replica: 2} {
		db, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "mysql", DSN: dsn}, "")
		require.NoError(t, err)
		require.NoError(t, db.Migrate(ctx, "demo", testMigrations[:1]))
		_, err = db.Exec("INSERT INTO scores (k, v) VALUES ('x', ?)", v)
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "mysql", DSN: primary, ReadDSN: replica}, "")
	require.NoError(t, err)
	defer db.Close()
	var v int
	require.NoError(t, db.QueryRow("SELECT v FROM scores WHERE k = 'x'").Scan(&v))
	require.Equal(t, 1, v)
	require.NoError(t, db.Reader().QueryRow("SELECT v FROM scores WHERE k = 'x'").Scan(&v))
	require.Equal(t, 2, v)

	shared := sqlstore.Config{Driver: "mysql", DSN: "u@tcp(h:3306)/shared", ReadDSN: "u@tcp(r:3306)/shared", MaxOpenConns: 16}
	require.Equal(t, shared, sqlstore.Own{}.Over(shared))
	require.Equal(t, sqlstore.Config{Driver: "mysql", DSN: "u@tcp(h:3306)/room", MaxOpenConns: 16},
		sqlstore.Own{DSN: "u@tcp(h:3306)/room"}.Over(shared))
	require.Equal(t, sqlstore.Config{Driver: "mysql", DSN: "u@tcp(h:3306)/room", ReadDSN: "u@tcp(r:3306)/room", MaxOpenConns: 4},
		sqlstore.Own{DSN: "u@tcp(h:3306)/room", ReadDSN: "u@tcp(r:3306)/room", MaxOpenConns: 4}.Over(shared))
	require.Equal(t, sqlstore.Config{Driver: "sqlite", MaxOpenConns: 16}, sqlstore.Own{Driver: "sqlite"}.Over(shared))
	require.ErrorContains(t, (&sqlstore.Config{Driver: "sqlite", ReadDSN: "x"}).Validate(), "read_dsn")

	// Without a replica, Reader is the primary.
	one, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "mysql", DSN: primary}, "")
	require.NoError(t, err)
	defer one.Close()
	require.NoError(t, one.Reader().QueryRow("SELECT v FROM scores WHERE k = 'x'").Scan(&v))
	require.Equal(t, 1, v)
}

// Pairs matches the pairs given, not every combination of their halves.
func TestPairs(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE pairs (a BIGINT NOT NULL, b BIGINT NOT NULL, PRIMARY KEY (a, b))")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO pairs (a, b) VALUES (1, 2), (3, 4), (1, 4), (3, 2)")
		require.NoError(t, err)
		var got [][2]int64
		require.NoError(t, sqlstore.Each(ctx, db, "SELECT a, b FROM pairs WHERE "+sqlstore.Pairs("a", "b", 3)+" ORDER BY a, b",
			[]any{1, 2, 3, 4, 5, 6}, func(r *sql.Rows) error {
				var p [2]int64
				err := r.Scan(&p[0], &p[1])
				got = append(got, p)
				return err
			}))
		require.Equal(t, [][2]int64{{1, 2}, {3, 4}}, got)
	})
}
