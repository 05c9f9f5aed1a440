package room

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// The media path: a publish names its room by stream key, a rotated key names none, and the
// video sets the status (pushing LIVE / PREPARING once per change) without an owner check.
func TestStreamKeyAndStreamLive(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, p := newService(t, db, nil)
		r, err := s.Create(ctx, 1, Fields{Title: str("stream")})
		require.NoError(t, err)

		id, err := s.StreamRoom(ctx, r.StreamKey)
		require.NoError(t, err)
		require.Equal(t, r.ID, id)
		for _, bad := range []string{"", "live_nope", r.StreamKey + "x"} {
			_, err = s.StreamRoom(ctx, bad)
			require.ErrorIs(t, err, ErrBadStreamKey, bad)
		}

		var rotated []int64
		s.OnKeyRotated(func(id int64) { rotated = append(rotated, id) })
		rot, err := s.RotateStreamKey(ctx, 1, r.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{r.ID}, rotated)
		_, err = s.StreamRoom(ctx, r.StreamKey)
		require.ErrorIs(t, err, ErrBadStreamKey)
		id, err = s.StreamRoom(ctx, rot.StreamKey)
		require.NoError(t, err)
		require.Equal(t, r.ID, id)

		require.NoError(t, s.SetStreamLive(ctx, r.ID, true))
		require.NoError(t, s.SetStreamLive(ctx, r.ID, true)) // no second LIVE
		got, err := s.Get(ctx, r.ID)
		require.NoError(t, err)
		require.True(t, got.Live)
		v := liveView(got, 0)
		require.Equal(t, &PlayURLs{FLV: "/live/" + itoa(r.ID) + ".flv", HLS: "/hls/" + itoa(r.ID) + ".m3u8"}, v.Play)
		require.NoError(t, s.SetStreamLive(ctx, r.ID, false))
		require.Nil(t, liveView(Room{ID: r.ID}, 0).Play)
		require.ErrorIs(t, s.SetStreamLive(ctx, 999, true), ErrRoomNotFound)

		msgs := p.Msgs()
		require.Len(t, msgs, 2)
		require.Contains(t, msgs[0], `"cmd":"LIVE"`)
		require.Contains(t, msgs[1], `"cmd":"PREPARING"`)
	})
}
