package media

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/media/mediatest"
	"github.com/zhibo-live/zhibo/internal/room/roomtest"
)

// TestLiveConfirmations: every media.live_heartbeat room is told, under this process's node
// name, which rooms publish and which wait out their offline grace; once the grace is over
// and the room preparing, it is confirmed no more (and with nothing to confirm, no call).
func TestLiveConfirmations(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, func(c *Config) {
		c.LiveHeartbeat = 100 * time.Millisecond
		c.OfflineGrace = 2 * time.Second
	})
	key := e.rooms.Add(5)
	confirmedSince := func(n int) bool {
		cs := e.rooms.Confirms()
		return slices.ContainsFunc(cs[min(n, len(cs)):], func(c roomtest.Confirm) bool {
			return c.Node == e.s.node && slices.Equal(c.Rooms, []int64{5})
		})
	}
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 2)
	e.publishing(t, 5, true)
	require.Eventually(t, func() bool { return confirmedSince(0) }, 5*time.Second, 20*time.Millisecond, "confirmed while publishing")
	require.NotEmpty(t, e.s.node)

	require.NoError(t, p.Wait(t, 15*time.Second), p.Output())
	e.publishing(t, 5, false)
	require.True(t, e.rooms.Live(5), "still in its grace")
	n := len(e.rooms.Confirms())
	require.Eventually(t, func() bool { return confirmedSince(n) }, 5*time.Second, 20*time.Millisecond, "confirmed in its grace")

	require.Eventually(t, func() bool { return !e.rooms.Live(5) }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return len(e.s.live.waiting()) == 0 }, 5*time.Second, 20*time.Millisecond)
	n = len(e.rooms.Confirms())
	e.s.confirm()
	require.Len(t, e.rooms.Confirms(), n, "nothing publishes or waits: no confirmation")
}
