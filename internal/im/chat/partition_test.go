package chat_test

import (
	"context"
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
