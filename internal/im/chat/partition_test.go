package chat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/imtest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// On MySQL the service splits im_messages into the months from now to partition_ahead when
// it starts; a message is stored in its month's partition, and read by id from there alone.
func TestMessagesArePartitionedByMonth(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	h := newHarness(t, db, func(c *chat.Config) { c.PartitionAhead = 2 })
	now := time.Now().UTC()
	var want []string
	for i := range 3 {
		want = append(want, sqlstore.PartitionName(time.Date(now.Year(), now.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC)))
	}
	want = append(want, sqlstore.MaxPartition)
	h.waitFor("the partitions made at start", func() bool {
		parts, err := db.Partitions(context.Background(), "im_messages")
		require.NoError(t, err)
		var got []string
		for _, p := range parts {
			got = append(got, p.Name)
		}
		return slices.Equal(want, got)
	})
	m := h.send(alice, bob, "hello", "")
	h.waitFor("stored", func() bool { return len(history(h, bob, alice, "").Items) == 1 })
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM im_messages PARTITION ("+sqlstore.PartitionName(ids.Time(m.ID))+")").Scan(&n))
	require.Equal(t, 1, n, "in its month's partition")
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM im_messages PARTITION (pmax)").Scan(&n))
	require.Zero(t, n)
	require.Equal(t, sqlstore.PartitionName(ids.Time(m.ID)),
		sqltest.ExplainPartitions(t, db, "SELECT body FROM im_messages WHERE id = ?", m.ID), "a read by id reads its month alone")
	h.waitFor("the partitions counted", func() bool {
		mfs, err := h.reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "zhibo_sql_partitions" {
				return mf.GetMetric()[0].GetGauge().GetValue() == float64(len(want))
			}
		}
		return false
	})
}

func TestPartitionSettings(t *testing.T) {
	for _, tune := range []func(*chat.Config){
		func(c *chat.Config) { c.PartitionAhead = -1 },
		func(c *chat.Config) { c.PartitionAhead = 0 },
		func(c *chat.Config) { c.PartitionAhead = sqlstore.MaxAhead + 1 },
		func(c *chat.Config) { c.PartitionRetention = -time.Hour },
		func(c *chat.Config) { c.PartitionRetention = 24 * time.Hour },
	} {
		c := chat.DefaultConfig()
		tune(&c)
		require.ErrorContains(t, c.Validate(), "im_chat.partition_")
	}
	c := chat.DefaultConfig()
	require.Equal(t, 3, c.PartitionAhead)
	require.Zero(t, c.PartitionRetention, "every message kept")

	// SQLite is not partitioned, so a retention there would be a promise nothing keeps.
	c.PartitionRetention = 365 * 24 * time.Hour
	require.NoError(t, c.Validate())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gen, err := ids.New(1)
	require.NoError(t, err)
	_, err = chat.New(c, chat.Deps{Logger: log, Registry: prometheus.NewRegistry(), DB: sqltest.OpenSQLite(t), IDs: gen,
		Queue: imtest.Queue(t, "imt", log), Accounts: accounttest.New(nil), Pusher: &pushtest.Recorder{}})
	require.ErrorContains(t, err, "im_chat.partition_retention needs a MySQL store")
}

// ddlWait bounds the wait for a maintainer's first pass: it runs the ALTERs that copy tables
// with rows, which a MariaDB shared with other tests may take seconds to finish.
const ddlWait = 30 * time.Second

// monthAgo is an instant in the month add months from now's (UTC), on its second day.
func monthAgo(add int) time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month()+time.Month(add), 2, 12, 0, 0, 0, time.UTC)
}

// seedV5 migrates db to im-chat v5 and stores there, as the store writer would, a message
// alice sent bob at each instant, with the client ids "c0", "c1", …. It returns the messages'
// ids.
func seedV5(t *testing.T, db *sqlstore.DB, at ...time.Time) []int64 {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.Migrate(ctx, "im-chat", chat.Migrations()[:5]))
	var out []int64
	for i, ts := range at {
		id := ids.First(ts) + 7
		cid := fmt.Sprint("c", i)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"INSERT INTO im_messages (id, sender, receiver, body, client_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
				[]any{id, alice, bob, cid, cid, ts.UnixMilli()}},
			{"INSERT INTO im_sends (sender, client_id, msg_id, created_at) VALUES (?, ?, ?, ?)", []any{alice, cid, id, ts.UnixMilli()}},
			{"INSERT INTO im_timeline (uid, msg_id, peer, outgoing) VALUES (?, ?, ?, 1), (?, ?, ?, 0)", []any{alice, id, bob, bob, id, alice}},
			{"REPLACE INTO im_conversations (uid, peer, last_id, mtime) VALUES (?, ?, ?, ?), (?, ?, ?, ?)",
				[]any{alice, bob, id, ts.UnixMilli(), bob, alice, id, ts.UnixMilli()}},
		} {
			_, err := db.ExecContext(ctx, q.sql, q.args...)
			require.NoError(t, err)
		}
		out = append(out, id)
	}
	return out
}

func partitionNames(t *testing.T, db *sqlstore.DB, table string) []string {
	t.Helper()
	parts, err := db.Partitions(context.Background(), table)
	require.NoError(t, err)
	var out []string
	for _, p := range parts {
		out = append(out, p.Name)
	}
	return out
}

// A retention drops the old months of im_messages: the history ends where the kept months
// begin (a timeline entry whose content is gone is left out), and the timeline and the
// client-id records, not partitioned, keep their rows.
func TestRetentionDropsTheOldMonthsOfContent(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	old, cur := monthAgo(-3), time.Now().UTC().Add(-time.Minute)
	seedV5(t, db, old, cur)
	h := newHarness(t, db, func(c *chat.Config) { c.PartitionAhead = 1; c.PartitionRetention = 35 * 24 * time.Hour })
	oldPart := sqlstore.PartitionName(old)
	require.Eventually(t, func() bool {
		names := partitionNames(t, db, "im_messages")
		return len(names) > 1 && !slices.Contains(names, oldPart)
	}, ddlWait, 5*time.Millisecond, "im_messages without its old month")
	for table, want := range map[string]int{"im_messages": 1, "im_timeline": 4, "im_sends": 2} {
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
		require.Equal(t, want, n, table)
	}
	got := history(h, bob, alice, "")
	require.Len(t, got.Items, 1)
	require.Equal(t, "c1", got.Items[0].Text)
}
