// Package sqlstore opens the SQL database a component keeps its data in — embedded SQLite by
// default, MySQL/MariaDB/TiDB when a DSN is configured — and applies versioned migrations.
// Stores write portable SQL (`?` placeholders, BIGINT unix-millisecond times); the few places
// where the dialects differ ask DB.Dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
)

// Config selects the engine.
type Config struct {
	// Driver is "sqlite" (embedded, the default) or "mysql" (MySQL 8, MariaDB, TiDB).
	Driver string `yaml:"driver"`
	// DSN: for sqlite a file path (empty = <data_dir>/zhibo.db); for mysql a
	// go-sql-driver DSN such as "user:pass@tcp(127.0.0.1:3306)/zhibo".
	DSN string `yaml:"dsn"`
	// MaxOpenConns caps the pool (0 = 16).
	MaxOpenConns int `yaml:"max_open_conns"`
	// ReadDSN (mysql only) is a read replica for the reads that may be stale: room lists,
	// gift ranks and anchor scores, comment history. Such a read shows the replica's lag
	// (seconds at worst under normal replication); everything else reads the primary.
	// Empty = every read goes to the primary.
	ReadDSN string `yaml:"read_dsn"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.Driver, prefix+"driver", "sqlite", `SQL engine: "sqlite" (embedded) or "mysql" (MySQL/MariaDB/TiDB).`)
	fs.StringVar(&c.DSN, prefix+"dsn", "", "sqlite file path (empty = <data_dir>/zhibo.db) or mysql DSN user:pass@tcp(host:3306)/db.")
	fs.IntVar(&c.MaxOpenConns, prefix+"max_open_conns", 16, "connection pool size (0 = 16).")
	fs.StringVar(&c.ReadDSN, prefix+"read_dsn", "", "mysql DSN of a read replica for reads that may be stale: room lists, ranks, comment history (empty = the primary).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	switch c.Driver {
	case "sqlite":
	case "mysql":
		if c.DSN == "" {
			return errors.New("store.dsn is required when store.driver is mysql")
		}
		if _, err := mysql.ParseDSN(c.DSN); err != nil {
			return fmt.Errorf("store.dsn: %w", err)
		}
	default:
		return fmt.Errorf("store.driver %q: want sqlite or mysql", c.Driver)
	}
	if c.ReadDSN != "" {
		if c.Driver != "mysql" {
			return errors.New("store.read_dsn needs store.driver mysql")
		}
		if _, err := mysql.ParseDSN(c.ReadDSN); err != nil {
			return fmt.Errorf("store.read_dsn: %w", err)
		}
	}
	return nil
}

// DB is a pool plus the dialect it speaks.
type DB struct {
	*sql.DB
	Dialect Dialect
	read    *sql.DB  // the read replica's pool, nil without one
	stmts   sync.Map // query → *sql.Stmt (Stmt)
}

// Stmt returns q prepared on the primary, once for the life of db (database/sql prepares it
// again on each connection that runs it). For the hot statements of a fixed text: SQLite
// otherwise parses a statement on every run.
func (db *DB) Stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prev, loaded := db.stmts.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// Reader is the pool for reads that may be stale (see Config.ReadDSN): the replica's when one
// is configured, else the primary's.
func (db *DB) Reader() *sql.DB {
	if db.read != nil {
		return db.read
	}
	return db.DB
}

// Close closes the primary's pool and the replica's.
func (db *DB) Close() error {
	var err error
	if db.read != nil {
		err = db.read.Close()
	}
	db.stmts.Range(func(_, v any) bool { _ = v.(*sql.Stmt).Close(); return true })
	return errors.Join(db.DB.Close(), err)
}

// Open connects (creating the SQLite file and its folder when needed) and pings.
func Open(ctx context.Context, cfg Config, dataDir string) (*DB, error) {
	var (
		db      *sql.DB
		err     error
		dialect Dialect
	)
	switch cfg.Driver {
	case "mysql":
		db, err = openMySQL(cfg.DSN)
		dialect = MySQL
	default:
		path := cfg.DSN
		if path == "" {
			path = filepath.Join(dataDir, "zhibo.db")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		// The file holds password hashes and stream keys: create it owner-only before SQLite
		// does (SQLite gives its -wal and -shm files the database file's permissions).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		f.Close()
		// WAL lets reads run beside the single writer; immediate transactions take the write
		// lock up front so concurrent writers queue on busy_timeout instead of deadlocking.
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
			"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		db, err = sql.Open("sqlite", dsn)
		dialect = SQLite
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	n := cfg.MaxOpenConns
	if n <= 0 {
		n = 16
	}
	out := &DB{DB: db, Dialect: dialect}
	if cfg.ReadDSN != "" && dialect == MySQL {
		if out.read, err = openMySQL(cfg.ReadDSN); err != nil {
			db.Close()
			return nil, fmt.Errorf("open read replica: %w", err)
		}
	}
	for _, p := range []*sql.DB{out.DB, out.read} {
		if p == nil {
			continue
		}
		p.SetMaxOpenConns(n)
		p.SetMaxIdleConns(n)
		if err := p.PingContext(ctx); err != nil {
			out.Close()
			return nil, fmt.Errorf("ping %s: %w", dialect, err)
		}
	}
	return out, nil
}

// openMySQL opens a pool on a go-sql-driver DSN with the settings every store relies on.
func openMySQL(dsn string) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	mc.MultiStatements = false
	mc.InterpolateParams = true // one round trip per statement
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO'"
	return sql.Open("mysql", mc.FormatDSN())
}

// InTx runs fn in a transaction, committing when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsDuplicate reports whether err is a unique or primary key violation.
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// InsertIgnore is the dialect's "insert unless the key exists" verb.
func (db *DB) InsertIgnore() string {
	if db.Dialect == MySQL {
		return "INSERT IGNORE"
	}
	return "INSERT OR IGNORE"
}

// Upsert renders "insert … on conflict update" for a table with the given key and the given
// assignments, each written with EXCLUDED(col) for the new value, e.g. "score = score + EXCLUDED(score)".
func (db *DB) Upsert(table string, cols []string, key []string, assignments ...string) string {
	ph := strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",")
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ",") + ") VALUES (" + ph + ")"
	set := strings.Join(assignments, ", ")
	if db.Dialect == MySQL {
		return q + " ON DUPLICATE KEY UPDATE " + excluded(set, "VALUES(", ")")
	}
	return q + " ON CONFLICT(" + strings.Join(key, ",") + ") DO UPDATE SET " + excluded(set, "excluded.", "")
}

// excluded rewrites EXCLUDED(col) into the dialect's reference to the proposed row.
func excluded(s, pre, post string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "EXCLUDED(")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], ')')
		b.WriteString(s[:i])
		b.WriteString(pre + s[i+len("EXCLUDED("):i+j] + post)
		s = s[i+j+1:]
	}
}

// Own is a component's own store: the fields it sets replace those of the shared store
// section, so each component of a split can keep its tables in a database of its own while
// an all-in-one process shares one.
type Own struct {
	// Driver overrides store.driver (empty = the shared one).
	Driver string `yaml:"driver"`
	// DSN overrides store.dsn (empty = the shared one).
	DSN string `yaml:"dsn"`
	// MaxOpenConns overrides store.max_open_conns (0 = the shared one).
	MaxOpenConns int `yaml:"max_open_conns"`
	// ReadDSN overrides store.read_dsn (empty = the shared one, when the DSN is too).
	ReadDSN string `yaml:"read_dsn"`
}

// RegisterFlags binds the override to flags under prefix (e.g. "room.store.").
func (o *Own) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&o.Driver, prefix+"driver", "", `SQL engine of this component's own store, "sqlite" or "mysql" (empty = store.driver).`)
	fs.StringVar(&o.DSN, prefix+"dsn", "", "DSN of this component's own store (empty = store.dsn).")
	fs.IntVar(&o.MaxOpenConns, prefix+"max_open_conns", 0, "connection pool of this component's own store (0 = store.max_open_conns).")
	fs.StringVar(&o.ReadDSN, prefix+"read_dsn", "", "mysql DSN of a read replica of this component's own store, for reads that may be stale (empty = store.read_dsn when the DSN is shared, else none).")
}

// Over returns the shared config with the override's fields applied.
func (o Own) Over(shared Config) Config {
	c := shared
	if o.Driver != "" {
		c.Driver = o.Driver
		if o.DSN == "" && o.Driver != shared.Driver {
			c.DSN, c.ReadDSN = "", "" // another engine's DSNs mean nothing to this one
		}
	}
	if o.DSN != "" && o.DSN != shared.DSN {
		c.DSN = o.DSN
		c.ReadDSN = "" // the shared replica replicates another database
	}
	if o.ReadDSN != "" {
		c.ReadDSN = o.ReadDSN
	}
	if o.MaxOpenConns > 0 {
		c.MaxOpenConns = o.MaxOpenConns
	}
	return c
}

// BackupTo writes a consistent copy of an SQLite store into the new file path while it stays
// in use (VACUUM INTO: one read transaction, compacted, WAL folded in). MySQL stores are
// backed up with the database's own tools.
func (db *DB) BackupTo(ctx context.Context, path string) error {
	if db.Dialect != SQLite {
		return errors.New("backup: only SQLite stores are copied here; use mysqldump or mariadb-backup for MySQL")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup: %s already exists", path)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}
