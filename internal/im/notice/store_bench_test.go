package notice

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// BenchmarkNoticeDeliverChunk: a batch's chunks of 1,000 recipients written to the store one
// after another, as the normal lane's worker writes them (an inbox pointer and an unread count
// per recipient, one transaction a chunk), on the store of ZHIBO_TEST_MYSQL_DSN (MariaDB) when
// set, else SQLite. Run: go test -run X -bench DeliverChunk -benchtime 200x ./internal/im/notice
func BenchmarkNoticeDeliverChunk(b *testing.B) {
	var db *sqlstore.DB
	if os.Getenv(sqltest.EnvMySQL) != "" {
		db = sqltest.OpenMySQL(b)
	} else {
		db = sqltest.OpenSQLite(b)
	}
	ctx := context.Background()
	s := NewSQLStore(db)
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	const chunk = 1000
	bt := Batch{Notice: Notice{ID: 1, Business: "ops", Kind: KindSystem, Lane: LaneNormal, Title: "t", Body: "b", Ts: 1},
		Recipients: Recipients{From: 1, To: 1 << 40}, Total: 1 << 40}
	if err := s.Create(ctx, bt); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	i := 0
	for b.Loop() {
		ok, err := s.DeliverChunk(ctx, bt.Notice, i, bt.Recipients.Chunk(i, chunk))
		if err != nil || !ok {
			b.Fatalf("chunk %d: %v %v", i, ok, err)
		}
		i++
	}
	b.ReportMetric(float64(i*chunk)/time.Since(start).Seconds(), "recipients/s")
	b.StopTimer()
	for _, table := range []string{"im_notice_inbox", "im_notice_unread"} {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != i*chunk {
			b.Fatalf("%s holds %d rows (%v), want %d", table, n, err, i*chunk)
		}
	}
}
