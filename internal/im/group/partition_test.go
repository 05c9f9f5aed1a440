package group_test

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
