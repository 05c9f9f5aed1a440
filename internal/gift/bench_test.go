package gift

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// forEachDB runs a benchmark on SQLite and, when configured, MySQL.
func forEachDB(b *testing.B, fn func(b *testing.B, db *sqlstore.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, sqltest.OpenSQLite(b)) })
	b.Run("mysql", func(b *testing.B) { fn(b, sqltest.OpenMySQL(b)) })
}

// BenchmarkSend is one gift send end to end: validation, the debit-and-order transaction,
// the event publish, the publish mark and the SEND_GIFT push (to a fake).
func BenchmarkSend(b *testing.B) {
	forEachDB(b, func(b *testing.B, db *sqlstore.DB) {
		e := newEnv(b, db, func(c *Config) { c.InitialBalance = 1 << 50 })
		ctx := context.Background()
		i := 0
		for b.Loop() {
			i++
			_, err := e.svc.Send(ctx, SendRequest{RoomID: roomMain, UID: aliceUID + int64(i%3), GiftID: 3, Num: 1, Key: strconv.Itoa(i)})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendParallel is BenchmarkSend from many goroutines and many senders.
func BenchmarkSendParallel(b *testing.B) {
	forEachDB(b, func(b *testing.B, db *sqlstore.DB) {
		e := newEnv(b, db, func(c *Config) { c.InitialBalance = 1 << 50 })
		ctx := context.Background()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			gen := e.svc.ids
			for pb.Next() {
				k := gen.MustNext()
				_, err := e.svc.Send(ctx, SendRequest{RoomID: roomMain, UID: 10 + k%1000, GiftID: 3, Num: 1, Key: strconv.FormatInt(k, 36)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkApplyScores is one aggregation flush of 1000 orders from 100 senders to one anchor:
// 101 score rows instead of 2000 row updates. ns/op is per flush.
func BenchmarkApplyScores(b *testing.B) {
	forEachDB(b, func(b *testing.B, db *sqlstore.DB) {
		st := newSQLStore(db, 1<<50)
		ctx := context.Background()
		require.NoError(b, st.Migrate(ctx))
		const perFlush = 1000
		next := int64(0)
		var seq uint64
		for b.Loop() {
			b.StopTimer()
			ids := make([]int64, perFlush)
			args := make([]any, 0, perFlush*13)
			now := time.Now().UnixMilli()
			for j := range ids {
				next++
				ids[j] = next
				args = append(args, next, 10+next%100, strconv.FormatInt(next, 10), roomMain, anchorUID,
					int64(3), "Applause", CoinGold, int64(1), int64(10), int64(10), int64(0), now)
			}
			rows := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?),", perFlush), ",")
			_, err := db.ExecContext(ctx, "INSERT INTO gift_orders ("+orderCols+") VALUES "+rows, args...)
			require.NoError(b, err)
			seq += perFlush
			b.StartTimer()
			res, err := st.ApplyScores(ctx, ScoreConsumer, seq, ids, time.Now().UnixMilli())
			require.NoError(b, err)
			require.Equal(b, perFlush, res.Orders)
		}
	})
}
