package sqlstore_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// partitionedTable is a table like im_messages as its migration leaves it: pmax alone.
const partitionedTable = `CREATE TABLE msgs (
	id BIGINT NOT NULL PRIMARY KEY,
	g BIGINT NOT NULL,
	KEY msgs_g (g, id)
) ENGINE=InnoDB PARTITION BY RANGE (id) (PARTITION pmax VALUES LESS THAN MAXVALUE)`

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

func partitionNames(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	parts, err := db.Partitions(context.Background(), "msgs")
	require.NoError(t, err)
	var out []string
	for _, p := range parts {
		out = append(out, p.Name)
	}
	return out
}

// rowsIn counts the rows of one partition.
func rowsIn(t *testing.T, db *sqlstore.DB, partition string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM msgs PARTITION ("+partition+")").Scan(&n))
	return n
}

func TestPartitionsAreSplitOffAheadOnce(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	ctx := context.Background()
	_, err := db.Exec(partitionedTable)
	require.NoError(t, err)
	now := day(2026, 12, 7)
	p := sqlstore.Partitioned{Table: "msgs", Ahead: 3}

	ch, err := db.MaintainPartitions(ctx, p, now)
	require.NoError(t, err)
	require.Equal(t, []string{"p202612", "p202701", "p202702", "p202703"}, ch.Added)
	require.False(t, ch.Moved, "pmax was empty")
	require.Equal(t, 5, ch.Partitions)
	require.Equal(t, []string{"p202612", "p202701", "p202702", "p202703", "pmax"}, partitionNames(t, db))
	parts, err := db.Partitions(ctx, "msgs")
	require.NoError(t, err)
	require.Equal(t, ids.First(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)), parts[0].Below, "p202612 ends where January begins")

	ch, err = db.MaintainPartitions(ctx, p, now)
	require.NoError(t, err)
	require.Empty(t, ch.Added, "a second pass changes nothing")
	require.Empty(t, ch.Dropped)
	require.Equal(t, 5, ch.Partitions)

	// A month later the next month is split off, the rest stays.
	ch, err = db.MaintainPartitions(ctx, p, day(2027, 1, 2))
	require.NoError(t, err)
	require.Equal(t, []string{"p202704"}, ch.Added)
}

func TestConcurrentPartitionPassesDoNotFail(t *testing.T) {
	dsn := sqltest.NewMySQLDatabase(t)
	ctx := context.Background()
	var dbs []*sqlstore.DB
	for range 4 { // a pool each, like four processes
		db, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "mysql", DSN: dsn}, "")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	_, err := dbs[0].Exec(partitionedTable)
	require.NoError(t, err)
	p := sqlstore.Partitioned{Table: "msgs", Ahead: 6}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added []string
	)
	for _, db := range dbs {
		wg.Go(func() {
			ch, err := db.MaintainPartitions(ctx, p, day(2026, 12, 7))
			require.NoError(t, err)
			mu.Lock()
			added = append(added, ch.Added...)
			mu.Unlock()
		})
	}
	wg.Wait()
	want := []string{"p202612", "p202701", "p202702", "p202703", "p202704", "p202705", "p202706"}
	require.ElementsMatch(t, want, added, "each month split off by exactly one of the passes")
	require.Equal(t, append(want, "pmax"), partitionNames(t, dbs[0]))
}

func TestRowsLandInTheirMonthAndALookupReadsOne(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	ctx := context.Background()
	_, err := db.Exec(partitionedTable)
	require.NoError(t, err)
	_, err = db.MaintainPartitions(ctx, sqlstore.Partitioned{Table: "msgs", Ahead: 2}, day(2026, 12, 7))
	require.NoError(t, err)
	jan := ids.First(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, id := range []int64{
		ids.First(day(2026, 12, 7)), jan - 1, // December, its last possible id included
		jan, ids.First(day(2027, 1, 31)) + 5, // January
		ids.First(day(2027, 2, 10)), // February
		ids.First(day(2027, 5, 1)),  // past the months split off: pmax
	} {
		_, err := db.Exec("INSERT INTO msgs (id, g) VALUES (?, 1)", id)
		require.NoError(t, err)
	}
	for part, n := range map[string]int{"p202612": 2, "p202701": 2, "p202702": 1, "pmax": 1} {
		require.Equal(t, n, rowsIn(t, db, part), part)
	}
	_, err = db.Exec("ANALYZE TABLE msgs")
	require.NoError(t, err)
	parts, err := db.Partitions(ctx, "msgs")
	require.NoError(t, err)
	require.Equal(t, int64(2), parts[1].Rows, "information_schema counts January's rows after ANALYZE")

	require.Equal(t, "p202701", sqltest.ExplainPartitions(t, db, "SELECT * FROM msgs WHERE id = ?", jan))
	require.Equal(t, "p202701,p202702", sqltest.ExplainPartitions(t, db, "SELECT * FROM msgs WHERE g = 1 AND id >= ? AND id < ?", jan, ids.First(day(2027, 2, 20))))
}

func TestRetentionDropsWholeOldMonths(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	ctx := context.Background()
	_, err := db.Exec(partitionedTable)
	require.NoError(t, err)
	_, err = db.MaintainPartitions(ctx, sqlstore.Partitioned{Table: "msgs", Ahead: 3}, day(2026, 12, 7))
	require.NoError(t, err)
	for _, d := range []time.Time{day(2026, 12, 7), day(2027, 1, 9), day(2027, 1, 20), day(2027, 3, 1)} {
		_, err := db.Exec("INSERT INTO msgs (id, g) VALUES (?, 1)", ids.First(d))
		require.NoError(t, err)
	}
	// On 15 March, 60 days back is 14 January: December is wholly older, January is not.
	p := sqlstore.Partitioned{Table: "msgs", Ahead: 3, Retention: 60 * 24 * time.Hour}
	ch, err := db.MaintainPartitions(ctx, p, day(2027, 3, 15))
	require.NoError(t, err)
	require.Equal(t, []string{"p202612"}, ch.Dropped)
	require.Equal(t, []string{"p202704", "p202705", "p202706"}, ch.Added)
	require.Equal(t, []string{"p202701", "p202702", "p202703", "p202704", "p202705", "p202706", "pmax"}, partitionNames(t, db))
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM msgs").Scan(&n))
	require.Equal(t, 3, n, "December's row went with its partition, the rest stayed")
	require.Equal(t, 2, rowsIn(t, db, "p202701"))

	ch, err = db.MaintainPartitions(ctx, p, day(2027, 3, 15))
	require.NoError(t, err)
	require.Empty(t, ch.Dropped, "a second pass drops nothing more")
	require.Empty(t, ch.Added)
}

func TestFirstSplitOfATableWithRows(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	ctx := context.Background()
	// A table partitioned by the migration after it held messages: all of them in pmax.
	_, err := db.Exec(partitionedTable)
	require.NoError(t, err)
	for _, d := range []time.Time{day(2026, 10, 3), day(2026, 11, 30), day(2026, 12, 1)} {
		_, err := db.Exec("INSERT INTO msgs (id, g) VALUES (?, 1)", ids.First(d))
		require.NoError(t, err)
	}
	ch, err := db.MaintainPartitions(ctx, sqlstore.Partitioned{Table: "msgs", Ahead: 1}, day(2026, 12, 7))
	require.NoError(t, err)
	require.True(t, ch.Moved)
	require.Equal(t, []string{"p202610", "p202611", "p202612", "p202701"}, ch.Added, "from the oldest row's month")
	for part, n := range map[string]int{"p202610": 1, "p202611": 1, "p202612": 1, "p202701": 0, "pmax": 0} {
		require.Equal(t, n, rowsIn(t, db, part), part)
	}
}

func TestPartitionKeeper(t *testing.T) {
	db := sqltest.OpenMySQL(t)
	_, err := db.Exec(partitionedTable)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	now := func() time.Time { return day(2026, 12, 7) }
	k, err := sqlstore.NewPartitionKeeper(db, slog.New(slog.DiscardHandler), reg, now,
		sqlstore.Partitioned{Table: "msgs", Ahead: 2}, sqlstore.Partitioned{Table: "missing", Ahead: 2})
	require.NoError(t, err)
	// A second keeper on the same registry (another component) shares the metrics.
	_, err = sqlstore.NewPartitionKeeper(db, slog.New(slog.DiscardHandler), reg, now, sqlstore.Partitioned{Table: "other", Ahead: 1})
	require.NoError(t, err)
	k.Pass(context.Background())
	require.Equal(t, []string{"p202612", "p202701", "p202702", "pmax"}, partitionNames(t, db))
	require.Equal(t, 4.0, metricOf(t, reg, "zhibo_sql_partitions", "msgs"))
	require.Equal(t, 1.0, metricOf(t, reg, "zhibo_sql_partition_failures_total", "missing"), "a table that is not there is a failure")
	require.Equal(t, 0.0, metricOf(t, reg, "zhibo_sql_partition_failures_total", "msgs"))
}

// metricOf is the value of the gauge or counter family for table.
func metricOf(t *testing.T, g prometheus.Gatherer, family, table string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "table" && lp.GetValue() == table {
					return m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{table=%q}", family, table)
	return 0
}

func TestPartitionsOnSQLiteAndBadSettings(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	ch, err := db.MaintainPartitions(context.Background(), sqlstore.Partitioned{Table: "msgs", Ahead: 3, Retention: sqlstore.MinRetention}, time.Now())
	require.NoError(t, err, "SQLite is not partitioned: nothing to do")
	require.Zero(t, ch.Partitions)
	for _, p := range []sqlstore.Partitioned{
		{Table: "msgs; DROP TABLE x", Ahead: 1},
		{Table: "msgs", Ahead: -1},
		{Table: "msgs", Ahead: sqlstore.MaxAhead + 1},
		{Table: "msgs", Ahead: 1, Retention: -time.Hour},
		{Table: "msgs", Ahead: 1, Retention: sqlstore.MinRetention - time.Hour},
	} {
		require.Error(t, p.Validate(), "%+v", p)
		_, err := sqlstore.NewPartitionKeeper(db, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil, p)
		require.Error(t, err, "%+v", p)
	}
	require.Equal(t, "p202612", sqlstore.PartitionName(time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)))
}
