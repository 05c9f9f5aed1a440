package chat

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/cache/cachetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// The conversation list of a user with a million conversations, the offline sync of a
// thousand missed messages, and the hot tier's compare-and-set under an out-of-order replay:
// the targets of docs/im.md, measured on the store of ZHIBO_TEST_MYSQL_DSN (MariaDB) when it
// is set, else SQLite. Run: go test -run X -bench IM -benchtime 2000x ./internal/im/chat

const bigUser = 42

// seedBig gives bigUser n conversations (peers 1..n, each with one message from the peer, the
// newest first in the list) and returns the store.
func seedBig(b *testing.B, db *sqlstore.DB, n int) *sqlStore {
	ctx := context.Background()
	s := NewSQLStore(db).(*sqlStore)
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	const chunk = 1000
	start := time.Now()
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := sqlstore.InsertRows(ctx, tx, "INSERT INTO im_messages (id, sender, receiver, body, client_id, created_at) VALUES ", 6, hi-lo,
				func(i int) []any { p := int64(lo + i + 1); return []any{p << 22, p + 1000, bigUser, "hello", "", p} }); err != nil {
				return err
			}
			if _, err := sqlstore.InsertRows(ctx, tx, "INSERT INTO im_timeline (uid, msg_id, peer, outgoing) VALUES ", 4, hi-lo,
				func(i int) []any { p := int64(lo + i + 1); return []any{bigUser, p << 22, p + 1000, 0} }); err != nil {
				return err
			}
			_, err := sqlstore.InsertRows(ctx, tx, "INSERT INTO im_conversations (uid, peer, last_id, mtime, unread, version, folder) VALUES ", 7, hi-lo,
				func(i int) []any { p := int64(lo + i + 1); return []any{bigUser, p + 1000, p << 22, p, 1, 1, 1} })
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO im_unread (uid, total, version) VALUES (?, ?, 1)", bigUser, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d conversations in %s (%s)", n, time.Since(start).Round(time.Millisecond), db.Dialect)
	return s
}

func benchDB(b *testing.B) *sqlstore.DB {
	if os.Getenv(sqltest.EnvMySQL) != "" {
		return sqltest.OpenMySQL(b)
	}
	return sqltest.OpenSQLite(b)
}

// quantiles reports p50 and p99 of the timed calls, in ms.
func quantiles(b *testing.B, prefix string, d []time.Duration) {
	slices.Sort(d)
	q := func(f float64) float64 { return float64(d[int(f*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), prefix+"-p50-ms")
	b.ReportMetric(q(0.99), prefix+"-p99-ms")
}

// BenchmarkIMConversationList1M: the first page, a deep page and the unread total of a user
// with 1,000,000 conversations, from the store and from the hot tier.
func BenchmarkIMConversationList1M(b *testing.B) {
	db := benchDB(b)
	s := seedBig(b, db, 1_000_000)
	ctx := context.Background()
	r := cachetest.Open(b, "bench")
	hot := newHotTier(r.Client(), r.Prefix(), 600, 600, time.Hour)
	if err := hot.warm(ctx, s, bigUser); err != nil {
		b.Fatal(err)
	}
	deep := Cursor{Mtime: 500_000, Peer: 500_000 + 1000}
	var first, deepPage, total, hotFirst, hotTotal []time.Duration
	timed := func(into *[]time.Duration, fn func() error) {
		t := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(t))
	}
	b.ResetTimer()
	for b.Loop() {
		timed(&first, func() error {
			page, err := s.Conversations(ctx, bigUser, FolderAll, Cursor{}, 20)
			if err == nil && len(page) != 20 {
				err = fmt.Errorf("first page of %d", len(page))
			}
			return err
		})
		timed(&deepPage, func() error {
			page, err := s.Conversations(ctx, bigUser, FolderAll, deep, 20)
			if err == nil && (len(page) != 20 || page[0].Mtime != 499_999) {
				err = fmt.Errorf("deep page wrong: %d items", len(page))
			}
			return err
		})
		timed(&total, func() error { _, err := s.Unread(ctx, bigUser); return err })
		timed(&hotFirst, func() error {
			page, err := hot.page(ctx, bigUser, Cursor{}, 20)
			if err == nil && len(page) != 20 {
				err = fmt.Errorf("hot first page of %d", len(page))
			}
			return err
		})
		timed(&hotTotal, func() error { _, err := hot.unread(ctx, bigUser); return err })
	}
	b.StopTimer()
	quantiles(b, "store-first", first)
	quantiles(b, "store-deep", deepPage)
	quantiles(b, "store-total", total)
	quantiles(b, "hot-first", hotFirst)
	quantiles(b, "hot-total", hotTotal)
}

// BenchmarkIMOfflineSync: a client that missed 1,000 messages over 50 conversations pages
// through them (Sync, 200 at a time), from the store, and from the hot tier holding the user's
// newest 600 timeline entries (the default: the first 400 are below its floor and read from the
// store) and 1,000.
func BenchmarkIMOfflineSync(b *testing.B) {
	db := benchDB(b)
	ctx := context.Background()
	st := NewSQLStore(db).(*sqlStore)
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var msgs []Message
	for i := range 1000 {
		msgs = append(msgs, Message{ID: int64(i+1) << 22, From: int64(100 + i%50), To: bigUser, Text: "missed", Ts: int64(i)})
	}
	for lo := 0; lo < len(msgs); lo += 250 {
		if _, err := st.Apply(ctx, msgs[lo:lo+250]); err != nil {
			b.Fatal(err)
		}
	}
	svc := func(b *testing.B, timeline int) *Service {
		m, err := newMetrics(prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		s := &Service{store: st, m: m, log: slog.New(slog.DiscardHandler)}
		s.warming.init()
		if timeline == 0 {
			return s
		}
		r := cachetest.Open(b, "sync")
		s.shared = r
		s.hot = newHotTier(r.Client(), r.Prefix(), 600, timeline, time.Hour)
		if err := s.hot.putMessages(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		if err := s.hot.warmTimeline(ctx, st, bigUser); err != nil {
			b.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name     string
		timeline int
	}{{"store", 0}, {"hot-600", 600}, {"hot-1000", 1000}} {
		b.Run(c.name, func(b *testing.B) {
			s := svc(b, c.timeline)
			var took []time.Duration
			hot := 0
			for b.Loop() {
				t := time.Now()
				n, after := 0, int64(0)
				for {
					page, err := s.Sync(ctx, bigUser, after, 200)
					if err != nil {
						b.Fatal(err)
					}
					for i, m := range page.Items {
						if m.ID != msgs[n+i].ID || m.Text != "missed" {
							b.Fatalf("message %d of the sync is %d %q, want %d", n+i, m.ID, m.Text, msgs[n+i].ID)
						}
					}
					n += len(page.Items)
					if page.Source == sourceHot {
						hot += len(page.Items)
					}
					if len(page.Items) < 200 {
						break
					}
					after = page.Items[len(page.Items)-1].ID
				}
				if n != 1000 {
					b.Fatalf("synced %d of 1000", n)
				}
				took = append(took, time.Since(t))
			}
			b.StopTimer()
			quantiles(b, "sync-1000", took)
			b.ReportMetric(float64(hot)/float64(len(took)), "from-hot")
		})
	}
}

// BenchmarkIMHotReplay: n conversation updates replayed in random order, some twice, through
// the hot tier's compare-and-set; at the end no entry is older than its newest update.
func BenchmarkIMHotReplay(b *testing.B) {
	r := cachetest.Open(b, "replay")
	ctx := context.Background()
	const users, peers, versions = 100, 100, 100 // 1,000,000 updates per run
	h := newHotTier(r.Client(), r.Prefix(), 1000, 600, time.Hour)
	for b.Loop() {
		for u := int64(1); u <= users; u++ {
			if err := r.Client().Do(ctx, r.Client().B().Set().Key(h.key(u, "w")).Value("1").Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
		updates := make([]ConvState, 0, users*peers*versions)
		for u := int64(1); u <= users; u++ {
			for p := int64(1); p <= peers; p++ {
				for v := int64(1); v <= versions; v++ {
					updates = append(updates, ConvState{UID: u, Version: v, Conversation: Conversation{Peer: p, LastID: v, Mtime: v}})
				}
			}
		}
		rand.Shuffle(len(updates), func(i, j int) { updates[i], updates[j] = updates[j], updates[i] })
		start := time.Now()
		for lo := 0; lo < len(updates); lo += 1000 {
			if _, err := h.apply(ctx, updates[lo:lo+1000], nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(updates))/time.Since(start).Seconds(), "updates/s")
		stale := 0
		for u := int64(1); u <= users; u++ {
			page, err := h.page(ctx, u, Cursor{}, peers)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range page {
				if c.LastID != versions {
					stale++
				}
			}
			if len(page) != peers {
				b.Fatalf("user %d: %d of %d conversations", u, len(page), peers)
			}
		}
		b.ReportMetric(float64(stale), "stale-entries")
		if stale != 0 {
			b.Fatalf("%d entries older than their newest update", stale)
		}
	}
}
