package aggregate

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrunerDeletesOnlyExpiredIDs(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB) {
		ctx := context.Background()
		_, err := db.Exec(AppliedIDsSchema("agg_pruned"))
		require.NoError(t, err)
		now := time.UnixMilli(10_000_000)
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = ClaimIDs(ctx, tx, "agg_pruned", []Event[string]{{ID: 1}}, now.Add(-2*time.Hour).UnixMilli())
		require.NoError(t, err)
		_, err = ClaimIDs(ctx, tx, "agg_pruned", []Event[string]{{ID: 2}}, now.Add(-time.Minute).UnixMilli())
		require.NoError(t, err)
		require.NoError(t, tx.Commit())

		Pruner{DB: db, Table: "agg_pruned", Keep: time.Hour, Now: func() time.Time { return now },
			Log: slog.New(slog.DiscardHandler)}.Prune(ctx)
		var ids []int64
		rows, err := db.Query("SELECT id FROM agg_pruned")
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []int64{2}, ids, "only the id applied longer ago than Keep is gone")
	})
}
