package aggregate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// Environment variables that switch on the integration tests against real engines; without
// them those tests are skipped (CI sets them and fails on skips).
const (
	envMySQL = "ZHIBO_TEST_MYSQL_DSN"
	envRedis = "ZHIBO_TEST_REDIS_ADDR"
)

// forEachDB runs fn on a fresh SQLite file and, when configured, a fresh MySQL database.
func forEachDB(t *testing.T, fn func(t *testing.T, db *sql.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, openMySQL(t)) })
}

func openSQLite(t testing.TB) *sql.DB {
	dsn := "file:" + filepath.Join(t.TempDir(), "agg.db") +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func openMySQL(t testing.TB) *sql.DB {
	dsn := os.Getenv(envMySQL)
	if dsn == "" {
		t.Skip(envMySQL + " not set: MySQL/MariaDB integration test skipped")
	}
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	name := "zhibo_agg_" + randHex(6)
	admin, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() {
		db.Close()
		if a, err := sql.Open("mysql", dsn); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name)
			a.Close()
		}
	})
	return db
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// jetStream starts an embedded JetStream server with stream "S" on subjects "s.>" and
// returns a connection factory: each call is a new client, as a new process would have.
func jetStream(t testing.TB) func() (jetstream.JetStream, *nats.Conn) {
	ns, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(),
		DontListen: true, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	connect := func() (jetstream.JetStream, *nats.Conn) {
		nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16))
		require.NoError(t, err)
		return js, nc
	}
	js, _ := connect()
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	require.NoError(t, err)
	return connect
}

// incr is the body of a test event: id, key, n.
type incr struct {
	ID  int64  `json:"id"`
	Key string `json:"key"`
	N   int64  `json:"n"`
}

// counterSink applies events to table counters with an applied-id table, and records the
// time of every row it writes per key.
type counterSink struct {
	db      *sql.DB
	mu      sync.Mutex
	written map[string][]time.Time
	fail    int // applies still to fail
}

func newCounterSink(t testing.TB, db *sql.DB) *counterSink {
	for _, q := range []string{
		AppliedIDsSchema("agg_applied"),
		"CREATE TABLE IF NOT EXISTS agg_counters (k VARCHAR(64) NOT NULL PRIMARY KEY, n BIGINT NOT NULL)",
	} {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	return &counterSink{db: db, written: map[string][]time.Time{}}
}

func (s *counterSink) Decode(data []byte) (Event[string], error) {
	var in incr
	if err := json.Unmarshal(data, &in); err != nil {
		return Event[string]{}, err
	}
	return Event[string]{ID: in.ID, Deltas: []Delta[string]{{Key: in.Key, N: in.N}}}, nil
}

func (s *counterSink) Apply(ctx context.Context, tx *sql.Tx, b Batch[string]) (Result, error) {
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		return Result{}, fmt.Errorf("sink down")
	}
	s.mu.Unlock()
	fresh, err := ClaimIDs(ctx, tx, "agg_applied", b.Events, time.Now().UnixMilli())
	if err != nil {
		return Result{}, err
	}
	sums := Fold(fresh)
	for k, n := range sums {
		res, err := tx.ExecContext(ctx, "UPDATE agg_counters SET n = n + ? WHERE k = ?", n, k)
		if err != nil {
			return Result{}, err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO agg_counters (k, n) VALUES (?, ?)", k, n); err != nil {
				return Result{}, err
			}
		}
	}
	now := time.Now()
	s.mu.Lock()
	for k := range sums {
		s.written[k] = append(s.written[k], now)
	}
	s.mu.Unlock()
	return Result{Applied: len(fresh), Keys: len(sums)}, nil
}

func (s *counterSink) writes(k string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.written[k]...)
}

func counter(t testing.TB, db *sql.DB, k string) int64 {
	var n int64
	err := db.QueryRow("SELECT n FROM agg_counters WHERE k = ?", k).Scan(&n)
	if err == sql.ErrNoRows {
		return 0
	}
	require.NoError(t, err)
	return n
}

func publish(t testing.TB, js jetstream.JetStream, in incr) {
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	_, err = js.Publish(context.Background(), "s."+in.Key, raw)
	require.NoError(t, err)
}

func durableConfig(window time.Duration, name string) DurableConfig {
	return DurableConfig{
		Config: Config{Window: window},
		Stream: "S",
		Consumer: jetstream.ConsumerConfig{Durable: name, AckWait: time.Second,
			MaxAckPending: DefaultMaxPending},
	}
}
