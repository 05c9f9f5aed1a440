package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
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

// seedBeforeV6 migrates db to im-chat v5 (im_timeline and im_sends not partitioned yet) and
// stores there, as the store writer would, a message alice sent bob at each instant, with the
// client ids "c0", "c1", …. It returns the messages' ids.
func seedBeforeV6(t *testing.T, db *sqlstore.DB, at ...time.Time) []int64 {
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

func rowsIn(t *testing.T, db *sqlstore.DB, table, partition string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table+" PARTITION ("+partition+")").Scan(&n))
	return n
}

// Migration v6 partitions im_timeline and im_sends, which hold rows already, by msg_id: the
// rows stay, and the first pass puts them in their months beside their messages. A timeline
// entry read by its key reads one month; a sync read (uid, msg_id after) the months from its
// cursor on; a history page (msg_id before) the months up to its cursor; a client id, which
// carries no time, every month.
func TestTimelineAndSendsArePartitionedWithTheirRows(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	old, cur := monthAgo(-2), time.Now().UTC().Add(-time.Minute)
	seeded := seedBeforeV6(t, db, old, cur)
	h := newHarness(t, db, func(c *chat.Config) { c.PartitionAhead = 1 })
	oldPart, curPart := sqlstore.PartitionName(old), sqlstore.PartitionName(cur)
	want := []string{oldPart, sqlstore.PartitionName(monthAgo(-1)), curPart, sqlstore.PartitionName(monthAgo(1)), sqlstore.MaxPartition}
	for _, table := range []string{"im_messages", "im_timeline", "im_sends"} {
		require.Eventually(t, func() bool { return slices.Equal(want, partitionNames(t, db, table)) },
			ddlWait, 5*time.Millisecond, "%s's months from its oldest row", table)
	}
	for table, n := range map[string]int{"im_timeline": 2, "im_sends": 1} {
		require.Equal(t, n, rowsIn(t, db, table, oldPart), "%s in the old month", table)
		require.Equal(t, n, rowsIn(t, db, table, curPart), "%s in this month", table)
		require.Zero(t, rowsIn(t, db, table, sqlstore.MaxPartition))
	}
	var pk string
	require.NoError(t, db.QueryRow(`SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'im_sends' AND INDEX_NAME = 'PRIMARY'`).Scan(&pk))
	require.Equal(t, "sender,client_id,msg_id", pk)

	require.Equal(t, oldPart, sqltest.ExplainPartitions(t, db, "SELECT peer FROM im_timeline WHERE uid = ? AND msg_id = ?", bob, seeded[0]),
		"an entry by its key reads its month alone")
	require.Equal(t, curPart+","+sqlstore.PartitionName(monthAgo(1))+",pmax",
		sqltest.ExplainPartitions(t, db, "SELECT msg_id FROM im_timeline WHERE uid = ? AND msg_id > ? ORDER BY msg_id LIMIT 50", bob, seeded[1]-1),
		"a sync from this month's cursor reads the months from there on")
	require.Equal(t, strings.Join(want[:3], ","),
		sqltest.ExplainPartitions(t, db, "SELECT msg_id FROM im_timeline WHERE uid = ? AND peer = ? AND msg_id < ? ORDER BY msg_id DESC LIMIT 20", bob, alice, seeded[1]),
		"a history page before this month's message looks into every month up to it")
	require.Equal(t, strings.Join(want, ","),
		sqltest.ExplainPartitions(t, db, "SELECT msg_id FROM im_sends WHERE sender = ? AND client_id = ?", alice, "c0"),
		"a client id reads every month")

	// Reads and writes go on over the partitioned tables: both messages in the history, the
	// old send's replay answered with its message, a new message in this month.
	got := history(h, bob, alice, "")
	require.Len(t, got.Items, 2)
	body, _ := json.Marshal(chat.SendInput{To: bob, Text: "again", ClientID: "c0"})
	code, data, _ := h.call(alice, "POST", "/api/im/messages", string(body))
	require.Equal(t, 200, code, "%s", data)
	var replay struct {
		ID     int64 `json:"id"`
		Replay bool  `json:"replay"`
	}
	require.NoError(t, json.Unmarshal(data, &replay))
	require.Equal(t, seeded[0], replay.ID)
	require.True(t, replay.Replay)
	m := h.send(alice, bob, "new", "c9")
	h.waitFor("stored", func() bool { return len(history(h, bob, alice, "").Items) == 3 })
	require.Equal(t, 2, rowsIn(t, db, "im_sends", sqlstore.PartitionName(ids.Time(m.ID))))
}

// A retention drops the old months of im_messages, im_timeline and im_sends together: the
// history ends where the kept months begin, and the newer rows of every table stay.
func TestRetentionDropsTheMonthOfEveryTable(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	old, cur := monthAgo(-3), time.Now().UTC().Add(-time.Minute)
	seedBeforeV6(t, db, old, cur)
	h := newHarness(t, db, func(c *chat.Config) { c.PartitionAhead = 1; c.PartitionRetention = 35 * 24 * time.Hour })
	oldPart := sqlstore.PartitionName(old)
	for _, table := range []string{"im_messages", "im_timeline", "im_sends"} {
		require.Eventually(t, func() bool {
			names := partitionNames(t, db, table)
			return len(names) > 1 && !slices.Contains(names, oldPart)
		}, ddlWait, 5*time.Millisecond, "%s without its old month", table)
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
		want := map[string]int{"im_messages": 1, "im_timeline": 2, "im_sends": 1}[table]
		require.Equal(t, want, n, "%s keeps this month's rows alone", table)
	}
	got := history(h, bob, alice, "")
	require.Len(t, got.Items, 1)
	require.Equal(t, "c1", got.Items[0].Text)
}
