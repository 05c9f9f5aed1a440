package aggregate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// redisPrefix returns a client factory for the Redis of ZHIBO_TEST_REDIS_ADDR and a key
// prefix unique to the test, whose keys are deleted when it ends.
func redisPrefix(t *testing.T) (func() rueidis.Client, string) {
	addr := os.Getenv(envRedis)
	if addr == "" {
		t.Skip(envRedis + " not set: Redis integration test skipped")
	}
	connect := func() rueidis.Client {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		return c
	}
	prefix := "zhibo_t_agg_" + randHex(6)
	admin := connect()
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := admin.Do(ctx, admin.B().Keys().Pattern("{"+prefix+"}:*").Build()).AsStrSlice()
		if err == nil && len(keys) > 0 {
			_ = admin.Do(ctx, admin.B().Del().Key(keys...).Build()).Error()
		}
	})
	return connect, prefix
}

// sqlFlushSink is a RedisFlushFunc writing counters to SQL, deduplicated by flush id.
type sqlFlushSink struct {
	db           *sql.DB
	mu           sync.Mutex
	written      map[string]int // rows written per key
	failOnce     atomic.Bool    // commit, then report an error, as a crash before DEL would
	offeredTwice atomic.Int32   // flush ids offered again and skipped
}

func newSQLFlushSink(t testing.TB) *sqlFlushSink {
	db := openSQLite(t)
	for _, q := range []string{AppliedFlushesSchema("agg_flushes"),
		"CREATE TABLE agg_counters (k VARCHAR(64) NOT NULL PRIMARY KEY, n BIGINT NOT NULL)"} {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	return &sqlFlushSink{db: db, written: map[string]int{}}
}

func (s *sqlFlushSink) flush(ctx context.Context, id string, batch map[string]int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	fresh, err := ClaimFlushID(ctx, tx, "agg_flushes", id, time.Now().UnixMilli())
	if err != nil {
		return err
	}
	if !fresh {
		s.offeredTwice.Add(1)
		return nil
	}
	for k, n := range batch {
		if _, err := tx.ExecContext(ctx, "INSERT INTO agg_counters (k, n) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET n = n + excluded.n", k, n); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.mu.Lock()
	for k := range batch {
		s.written[k]++
	}
	s.mu.Unlock()
	if s.failOnce.CompareAndSwap(true, false) {
		return errors.New("crashed after commit")
	}
	return nil
}

func (s *sqlFlushSink) writes(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written[k]
}

// Two processes adding to the same keys through one Redis: exact totals, and one write per
// key per window across both.
func TestRedisTwoProcessesShareKeys(t *testing.T) {
	connect, prefix := redisPrefix(t)
	sink := newSQLFlushSink(t)
	ctx := context.Background()
	const window = 100 * time.Millisecond
	var procs []*Redis
	for range 2 {
		r, err := NewRedis(RedisConfig{Config: Config{Window: window}, Prefix: prefix}, connect(), sink.flush, Options{})
		require.NoError(t, err)
		require.NoError(t, r.Start(ctx))
		procs = append(procs, r)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := procs[g%2]
			for i := range 2000 {
				require.NoError(t, r.Add(ctx, fmt.Sprintf("k%d", i%10), 1))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, r := range procs {
		require.NoError(t, r.Stop(ctx))
	}
	var sum int64
	for k := range 10 {
		sum += counter(t, sink.db, fmt.Sprintf("k%d", k))
	}
	require.Equal(t, int64(8*2000), sum)
	windows := int(elapsed/window) + 1
	t.Logf("16000 adds over %s (%d windows): key k0 written %d times", elapsed, windows, sink.writes("k0"))
	require.LessOrEqual(t, sink.writes("k0"), windows+2, "at most one write per window, plus the two final flushes")
	require.Equal(t, uint64(16000), procs[0].Stats().Increments+procs[1].Stats().Increments)
}

// A flush whose sink committed but whose process died before Redis forgot it is offered
// again, and the flush id keeps it from counting twice; a leftover found at start is applied.
func TestRedisLeftoverFlushes(t *testing.T) {
	connect, prefix := redisPrefix(t)
	sink := newSQLFlushSink(t)
	ctx := context.Background()
	rc := connect()
	// A flusher died after renaming the pending hash: its flush is recorded in Redis.
	p := "{" + prefix + "}:"
	require.NoError(t, rc.Do(ctx, rc.B().Hset().Key(p+"flush:dead").FieldValue().FieldValue("k", "5").Build()).Error())
	require.NoError(t, rc.Do(ctx, rc.B().Sadd().Key(p+"flushes").Member("dead").Build()).Error())
	r, err := NewRedis(RedisConfig{Config: Config{Window: time.Hour}, Prefix: prefix}, rc, sink.flush, Options{})
	require.NoError(t, err)
	require.NoError(t, r.Start(ctx))
	require.Equal(t, int64(5), counter(t, sink.db, "k"))

	require.NoError(t, r.Add(ctx, "k", 2))
	sink.failOnce.Store(true)
	require.Error(t, r.Flush(ctx))
	require.Equal(t, int64(7), counter(t, sink.db, "k"))
	require.NoError(t, r.Add(ctx, "k", 1))
	require.NoError(t, r.Stop(ctx))
	require.Equal(t, int64(8), counter(t, sink.db, "k"))
	require.Equal(t, int32(1), sink.offeredTwice.Load(), "the committed flush was offered again and skipped")
	n, err := rc.Do(ctx, rc.B().Scard().Key(p+"flushes").Build()).AsInt64()
	require.NoError(t, err)
	require.Zero(t, n)

	_, err = NewRedis(RedisConfig{Prefix: ""}, rc, sink.flush, Options{})
	require.Error(t, err)
}

// Reaching MaxPending keys flushes before the window ends.
func TestRedisMaxPendingFlushesEarly(t *testing.T) {
	connect, prefix := redisPrefix(t)
	sink := newSQLFlushSink(t)
	ctx := context.Background()
	r, err := NewRedis(RedisConfig{Config: Config{Window: time.Hour, MaxPending: 5}, Prefix: prefix}, connect(), sink.flush, Options{})
	require.NoError(t, err)
	require.NoError(t, r.Start(ctx))
	for k := range 5 {
		require.NoError(t, r.Add(ctx, fmt.Sprintf("e%d", k), 1))
	}
	eventually(t, func() bool { return counter(t, sink.db, "e4") == 1 }, "no early flush")
	require.NoError(t, r.Stop(ctx))
}
