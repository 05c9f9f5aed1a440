package notice

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// benchStore is a migrated store on ZHIBO_TEST_MYSQL_DSN (MariaDB) when it is set, else SQLite.
func benchStore(b *testing.B) (*sqlstore.DB, Store) {
	var db *sqlstore.DB
	if os.Getenv(sqltest.EnvMySQL) != "" {
		db = sqltest.OpenMySQL(b)
	} else {
		db = sqltest.OpenSQLite(b)
	}
	s := NewSQLStore(db)
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db, s
}

// BenchmarkNoticeDeliverChunk: a batch's chunks of 1,000 recipients written to the store one
// after another, as the normal lane's worker writes them (an inbox pointer and an unread count
// per recipient, one transaction a chunk), on the store of ZHIBO_TEST_MYSQL_DSN (MariaDB) when
// set, else SQLite. Run: go test -run X -bench DeliverChunk -benchtime 200x ./internal/im/notice
func BenchmarkNoticeDeliverChunk(b *testing.B) {
	ctx := context.Background()
	db, s := benchStore(b)
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

// BenchmarkNoticeInbox: the reads of a notice inbox with no cache in front — a user's first
// page, a page deep in it and the unread counts — over 1,000 users with 1,000 system notices
// each (a million inbox pointers), on the store of ZHIBO_TEST_MYSQL_DSN (MariaDB) when set,
// else SQLite; the figures are why notices have no hot tier (docs/im.md). Run:
// go test -run X -bench NoticeInbox -benchtime 3000x ./internal/im/notice
func BenchmarkNoticeInbox(b *testing.B) {
	ctx := context.Background()
	db, s := benchStore(b)
	const users, notices, page = 1000, 1000, 20
	start := time.Now()
	for id := int64(1); id <= notices; id++ {
		bt := Batch{Notice: Notice{ID: id, Business: "ops", Kind: KindSystem, Lane: LaneNormal, Title: "notice", Body: "a system notice", Ts: id},
			Recipients: Recipients{From: 1, To: users}, Total: users}
		if err := s.Create(ctx, bt); err != nil {
			b.Fatal(err)
		}
		if ok, err := s.DeliverChunk(ctx, bt.Notice, 0, bt.Recipients.Chunk(0, users)); err != nil || !ok {
			b.Fatalf("notice %d: %v %v", id, ok, err)
		}
	}
	b.Logf("seeded %d inbox pointers in %s (%s)", users*notices, time.Since(start).Round(time.Millisecond), db.Dialect)
	rng := rand.New(rand.NewPCG(1, 2))
	var first, deep, unread []time.Duration
	timed := func(into *[]time.Duration, f func() error) {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(t0))
	}
	b.ResetTimer()
	for b.Loop() {
		uid := 1 + rng.Int64N(users)
		timed(&first, func() error {
			items, err := s.Inbox(ctx, uid, KindSystem, 0, page)
			if err == nil && len(items) != page {
				err = fmt.Errorf("first page of %d: %d items", uid, len(items))
			}
			return err
		})
		timed(&deep, func() error {
			before := page + 1 + rng.Int64N(notices-page)
			items, err := s.Inbox(ctx, uid, KindSystem, before, page)
			if err == nil && (len(items) != page || items[0].ID != before-1) {
				err = fmt.Errorf("page before %d of %d: %d items", before, uid, len(items))
			}
			return err
		})
		timed(&unread, func() error {
			n, err := s.Unread(ctx, uid)
			if err == nil && n[KindSystem] != notices {
				err = fmt.Errorf("unread of %d: %v", uid, n)
			}
			return err
		})
	}
	b.StopTimer()
	for _, q := range []struct {
		name string
		d    []time.Duration
	}{{"first", first}, {"deep", deep}, {"unread", unread}} {
		slices.Sort(q.d)
		at := func(f float64) float64 { return float64(q.d[int(f*float64(len(q.d)-1))].Microseconds()) / 1000 }
		b.ReportMetric(at(0.5), q.name+"-p50-ms")
		b.ReportMetric(at(0.99), q.name+"-p99-ms")
	}
}
