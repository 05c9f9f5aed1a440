package danmaku

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func TestSQLStore(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := NewSQLStore(db)
		require.NoError(t, s.Migrate(ctx))
		require.NoError(t, s.Migrate(ctx), "migrating twice is a no-op")

		got, err := s.Recent(ctx, 1, 10)
		require.NoError(t, err)
		require.Empty(t, got)
		long := strings.Repeat("弹", maxRunesLimit)
		want := []Comment{
			{ID: 10, RoomID: 1, UID: 5, Uname: strings.Repeat("名", unameColumnRunes), Text: long, Color: 0xFFFFFF, Mode: 1, Ts: 1000},
			{ID: 11, RoomID: 2, UID: 5, Uname: "u", Text: "other room", Color: 1, Mode: 4, Ts: 1001},
			{ID: 12, RoomID: 1, UID: 6, Uname: "😀", Text: "emoji 😀", Color: 2, Mode: 5, Ts: 1002},
			{ID: 13, RoomID: 1, UID: 7, Uname: "", Text: "x", Color: 3, Mode: 1, Ts: 1003,
				ReplyTo: 10, ReplyUID: 5, ReplyUname: strings.Repeat("名", unameColumnRunes)},
		}
		for _, c := range want {
			require.NoError(t, s.InsertComment(ctx, c))
		}
		require.Error(t, s.InsertComment(ctx, want[0]), "ids are unique")
		got, err = s.Recent(ctx, 1, 10)
		require.NoError(t, err)
		require.Equal(t, []Comment{want[0], want[2], want[3]}, got)
		got, err = s.Recent(ctx, 1, 2)
		require.NoError(t, err)
		require.Equal(t, []Comment{want[2], want[3]}, got)
		c, ok, err := s.Comment(ctx, 13)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want[3], c, "a reply keeps what it answers")
		_, ok, err = s.Comment(ctx, 14)
		require.NoError(t, err)
		require.False(t, ok)
		unpushed, err := s.Unpushed(ctx, 2000, 10)
		require.NoError(t, err)
		require.Equal(t, want, unpushed, "the relay gets replies whole")

		m, err := s.Mute(ctx, Mute{RoomID: 1, UID: 5, ByUID: 9, Since: 100})
		require.NoError(t, err)
		require.Equal(t, Mute{RoomID: 1, UID: 5, ByUID: 9, Since: 100}, m)
		m, err = s.Mute(ctx, Mute{RoomID: 1, UID: 5, ByUID: 9, Since: 200})
		require.NoError(t, err)
		require.EqualValues(t, 100, m.Since, "the first mute stays in force")
		_, err = s.Mute(ctx, Mute{RoomID: 1, UID: 6, ByUID: 9, Since: 300})
		require.NoError(t, err)
		for _, c := range []struct {
			room, uid int64
			want      bool
		}{{1, 5, true}, {1, 6, true}, {2, 5, false}, {1, 7, false}} {
			muted, err := s.IsMuted(ctx, c.room, c.uid)
			require.NoError(t, err)
			require.Equal(t, c.want, muted, "%d/%d", c.room, c.uid)
		}
		ms, err := s.Mutes(ctx, 1, 10)
		require.NoError(t, err)
		require.Equal(t, []Mute{{1, 6, 9, 300}, {1, 5, 9, 100}}, ms)
		ms, err = s.Mutes(ctx, 1, 1)
		require.NoError(t, err)
		require.Len(t, ms, 1)

		removed, err := s.Unmute(ctx, 1, 5)
		require.NoError(t, err)
		require.True(t, removed)
		removed, err = s.Unmute(ctx, 1, 5)
		require.NoError(t, err)
		require.False(t, removed)
		muted, err := s.IsMuted(ctx, 1, 5)
		require.NoError(t, err)
		require.False(t, muted)
	})
}
