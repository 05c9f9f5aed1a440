package notice

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// A chunk delivered again — a batch resumed after a crash — changes nothing.
func TestChunkDeliveredOnce(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := NewSQLStore(db)
		require.NoError(t, s.Migrate(ctx))
		b := Batch{Notice: Notice{ID: 7, Business: "ops", Kind: KindSystem, Lane: LaneNormal, Title: "t", Body: "b", Ts: 1},
			Recipients: Recipients{From: 10, To: 12}, Total: 3}
		require.NoError(t, s.Create(ctx, b))
		ok, err := s.DeliverChunk(ctx, b.Notice, 0, b.Recipients.Chunk(0, 100))
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.DeliverChunk(ctx, b.Notice, 0, b.Recipients.Chunk(0, 100))
		require.NoError(t, err)
		require.False(t, ok)
		got, err := s.Batch(ctx, 7)
		require.NoError(t, err)
		require.EqualValues(t, 3, got.Done)
		for u := int64(10); u <= 12; u++ {
			n, err := s.Unread(ctx, u)
			require.NoError(t, err)
			require.EqualValues(t, 1, n[KindSystem])
		}
		require.Nil(t, b.Recipients.Chunk(1, 100))
		require.Equal(t, []int64{12}, Recipients{From: 10, To: 12}.Chunk(1, 2))
	})
}
