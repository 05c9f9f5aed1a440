package group_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/imtest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// On MySQL the service splits im_group_messages into the months from now to partition_ahead
// when it starts; a message is stored in its month's partition, and read by id from there
// alone.
func TestMessagesArePartitionedByMonth(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	h := newHarness(t, db, func(c *group.Config) { c.PartitionAhead = 2 })
	now := time.Now().UTC()
	var want []string
	for i := range 3 {
		want = append(want, sqlstore.PartitionName(time.Date(now.Year(), now.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC)))
	}
	want = append(want, sqlstore.MaxPartition)
	require.Eventually(t, func() bool {
		parts, err := db.Partitions(context.Background(), "im_group_messages")
		require.NoError(t, err)
		var got []string
		for _, p := range parts {
			got = append(got, p.Name)
		}
		return slices.Equal(want, got)
	}, 10*time.Second, 5*time.Millisecond, "the partitions made at start")

	var g group.Group
	require.Equal(t, 200, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": "g", "members": []int64{ann}}, &g))
	m := h.send(ann, g.ID, "hello", "c1")
	require.Eventually(t, func() bool { return len(h.history(owner, g.ID)) == 1 }, 10*time.Second, 5*time.Millisecond)
	month := sqlstore.PartitionName(ids.Time(m.ID))
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM im_group_messages PARTITION ("+month+")").Scan(&n))
	require.Equal(t, 1, n, "in its month's partition")

	// Reading a message by its id (a recall) reads its month alone.
	require.Equal(t, month, sqltest.ExplainPartitions(t, db, "SELECT body FROM im_group_messages WHERE id = ?", m.ID))
}

func TestPartitionSettings(t *testing.T) {
	for _, tune := range []func(*group.Config){
		func(c *group.Config) { c.PartitionAhead = -1 },
		func(c *group.Config) { c.PartitionAhead = 0 },
		func(c *group.Config) { c.PartitionRetention = time.Hour },
	} {
		c := group.DefaultConfig()
		tune(&c)
		require.ErrorContains(t, c.Validate(), "im_group.partition_")
	}
	c := group.DefaultConfig()
	c.PartitionRetention = 365 * 24 * time.Hour
	require.NoError(t, c.Validate())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gen, err := ids.New(2)
	require.NoError(t, err)
	_, err = group.New(c, group.Deps{Logger: log, Registry: prometheus.NewRegistry(), DB: sqltest.OpenSQLite(t), IDs: gen,
		Queue: imtest.Queue(t, "imgt", log), Accounts: accounttest.New(nil), Pusher: &pushtest.Recorder{}})
	require.ErrorContains(t, err, "im_group.partition_retention needs a MySQL store")
}

// ddlWait bounds the wait for a maintainer's first pass: it runs the ALTERs that copy tables
// with rows, which a MariaDB shared with other tests may take seconds to finish.
const ddlWait = 30 * time.Second

// monthAgo is an instant in the month add months from now's (UTC), on its second day.
func monthAgo(add int) time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month()+time.Month(add), 2, 12, 0, 0, 0, time.UTC)
}

// seedV2 migrates db to im-group v2 and stores a
// message of ann's in group 77 at each instant, with the client ids "c0", "c1", …
func seedV2(t *testing.T, db *sqlstore.DB, at ...time.Time) []int64 {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.Migrate(ctx, "im-group", group.Migrations()[:2]))
	var out []int64
	for i, ts := range at {
		id, cid := ids.First(ts)+3, fmt.Sprint("c", i)
		_, err := db.ExecContext(ctx, "INSERT INTO im_group_messages (id, group_id, sender, body, client_id, created_at) VALUES (?, 77, ?, ?, ?, ?)",
			id, ann, cid, cid, ts.UnixMilli())
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO im_group_sends (sender, client_id, msg_id) VALUES (?, ?, ?)", ann, cid, id)
		require.NoError(t, err)
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

func countRows(t *testing.T, db *sqlstore.DB, from string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+from).Scan(&n))
	return n
}

// A retention drops the old months of im_group_messages; the client-id records, not
// partitioned, keep their rows.
func TestRetentionDropsTheOldMonthsOfMessages(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	old, cur := monthAgo(-3), time.Now().UTC().Add(-time.Minute)
	seedV2(t, db, old, cur)
	newHarness(t, db, func(c *group.Config) { c.PartitionAhead = 1; c.PartitionRetention = 35 * 24 * time.Hour })
	require.Eventually(t, func() bool {
		names := partitionNames(t, db, "im_group_messages")
		return len(names) > 1 && !slices.Contains(names, sqlstore.PartitionName(old))
	}, ddlWait, 5*time.Millisecond, "im_group_messages without its old month")
	require.Equal(t, 1, countRows(t, db, "im_group_messages"), "this month's message alone")
	require.Equal(t, 2, countRows(t, db, "im_group_sends"))
}

// Replays of the same sends under different ids, applied at once by several writers, are one
// message each: im_group_sends' key (sender, client_id) refuses the second id.
func TestStoreConcurrentReplaysAreOneMessage(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := group.NewSQLStore(db)
		require.NoError(t, s.Migrate(ctx))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var batch []group.Message
				for i := range 30 {
					batch = append(batch, group.Message{ID: int64(w*1000 + i + 1), GroupID: 5, From: ann, Text: "x",
						ClientID: fmt.Sprint("c-", i), Ts: 1})
				}
				if _, err := s.Apply(ctx, batch); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, 30, countRows(t, db, "im_group_messages"))
		require.Equal(t, 30, countRows(t, db, "im_group_sends"))
	})
}
