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

// The inbox re-keyed by user and kind (v4) keeps what was delivered before: the pointers, the
// unread counts and read positions, and a chunk delivered again still changes nothing.
func TestInboxRekeyKeepsRows(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "im-notice", Migrations()[:2]))
		s := NewSQLStore(db)
		b := Batch{Notice: Notice{ID: 7, Business: "ops", Kind: KindSystem, Lane: LaneNormal, Title: "t", Body: "b", Ts: 1},
			Recipients: Recipients{From: 10, To: 12}, Total: 3}
		require.NoError(t, s.Create(ctx, b))
		ok, err := s.DeliverChunk(ctx, b.Notice, 0, b.Recipients.Chunk(0, 100))
		require.NoError(t, err)
		require.True(t, ok)
		_, err = s.MarkRead(ctx, 11, KindSystem, 7)
		require.NoError(t, err)

		require.NoError(t, s.Migrate(ctx))
		for uid, want := range map[int64]int64{10: 1, 11: 0, 12: 1} {
			n, err := s.Unread(ctx, uid)
			require.NoError(t, err)
			require.Equal(t, want, n[KindSystem], "uid %d", uid)
			items, err := s.Inbox(ctx, uid, KindSystem, 0, 10)
			require.NoError(t, err)
			require.Len(t, items, 1)
			require.Equal(t, uid == 11, items[0].Read)
		}
		ok, err = s.DeliverChunk(ctx, b.Notice, 0, b.Recipients.Chunk(0, 100))
		require.NoError(t, err)
		require.False(t, ok, "delivered before the migration")
		b2 := Batch{Notice: Notice{ID: 8, Business: "ops", Kind: KindSystem, Lane: LaneNormal, Title: "t2", Body: "b", Ts: 2},
			Recipients: Recipients{From: 10, To: 11}, Total: 2}
		require.NoError(t, s.Create(ctx, b2))
		ok, err = s.DeliverChunk(ctx, b2.Notice, 0, b2.Recipients.Chunk(0, 100))
		require.NoError(t, err)
		require.True(t, ok)
		n, err := s.Unread(ctx, 10)
		require.NoError(t, err)
		require.EqualValues(t, 2, n[KindSystem])
		items, err := s.Inbox(ctx, 10, KindSystem, 0, 10)
		require.NoError(t, err)
		require.Len(t, items, 2)
		require.EqualValues(t, 8, items[0].ID, "newest first")
	})
}
