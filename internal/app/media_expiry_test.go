package app

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/media/mediatest"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// expiryCluster is a back process (every component, media included, serving gRPC) with short
// live-status timings, one room on it, and a way to run media processes of their own.
type expiryCluster struct {
	back  *App
	room  room.Room
	short func(*config.Config)
}

func newExpiryCluster(t *testing.T, heartbeat, grace, timeout time.Duration) *expiryCluster {
	mediatest.NeedFFmpeg(t)
	short := func(c *config.Config) {
		c.Media.LiveHeartbeat, c.Media.OfflineGrace, c.Room.LiveTimeout = heartbeat, grace, timeout
	}
	natsURL := queuetest.URL(t)
	back, _ := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "mediaexpiry")
		short(c)
	})
	ctx := context.Background()
	sess, err := back.Account.SignUp(ctx, "media_owner", "password1")
	require.NoError(t, err)
	rm, err := back.Room.Create(ctx, sess.UID, room.Fields{Title: ptr("on a media process that dies")})
	require.NoError(t, err)
	return &expiryCluster{back: back, room: rm, short: short}
}

// media starts a media process of its own, reaching room at the back process over gRPC.
func (c *expiryCluster) media(t *testing.T) *App {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Media.RTMPAddr, cfg.Gateway.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Peers.Room = c.back.GRPCAddr().String()
	c.short(&cfg)
	med, err := New(cfg, []string{"media"}, obs.Discard())
	require.NoError(t, err)
	require.NoError(t, med.Start(context.Background()))
	t.Cleanup(func() { _ = med.Stop(context.Background()) }) // room may be unreachable by then: errors logged
	return med
}

// publish pushes a stream to med for the room (ffmpeg, a minute at most).
func (c *expiryCluster) publish(t *testing.T, med *App) {
	mediatest.Publish(t, "rtmp://"+med.RTMPAddr().String()+"/live/"+c.room.StreamKey, "320x240", 60)
}

// silence cuts every connection med has to room, its stream left up: from room's side, the
// same as a media process killed (kill -9, OOM) or lost with its node — neither a
// confirmation nor the end of its publish reaches room any more.
func silence(t *testing.T, med *App) {
	for _, cc := range med.conns {
		require.NoError(t, cc.Close())
	}
}

func (c *expiryCluster) live(t *testing.T) bool {
	r, err := c.back.Room.Get(context.Background(), c.room.ID)
	require.NoError(t, err)
	return r.Live
}

// confirmation reads the room's last stream confirmation (stream_seen_at; 0 once the room is no
// longer live by its video) and its last write (updated_at), both unix ms by room's clock.
func (c *expiryCluster) confirmation(t *testing.T) (seenAt, updatedAt int64) {
	err := c.back.db("room").QueryRowContext(context.Background(),
		"SELECT stream_seen_at, updated_at FROM rooms WHERE id = ?", c.room.ID).Scan(&seenAt, &updatedAt)
	require.NoError(t, err)
	return seenAt, updatedAt
}

// stayLive polls until d has passed since from, failing as soon as the room is not live.
func (c *expiryCluster) stayLive(t *testing.T, from time.Time, d time.Duration, why string) {
	require.Eventually(t, func() bool {
		require.True(t, c.live(t), why)
		return time.Since(from) > d
	}, d+15*time.Second, 50*time.Millisecond)
}

// Split mode: a media process of its own keeps its publishing room live past
// room.live_timeout by confirming it over gRPC; once it goes silent with its stream still up,
// room sets the room preparing when live_timeout has passed, and not before.
func TestSilentMediaProcessRoomExpires(t *testing.T) {
	const heartbeat, timeout = 200 * time.Millisecond, 1500 * time.Millisecond
	c := newExpiryCluster(t, heartbeat, 300*time.Millisecond, timeout)
	med := c.media(t)
	c.publish(t, med)
	require.Eventually(t, func() bool { return c.live(t) }, 15*time.Second, 20*time.Millisecond, "live from the publish start")
	c.stayLive(t, time.Now(), 2*timeout, "confirmed: stays live")
	require.Zero(t, metric(t, c.back, "zhibo_room_live_expired_total", nil))
	require.Positive(t, metric(t, c.back, "grpc_server_handled_total", map[string]string{"grpc_method": "ConfirmStreams", "grpc_code": "OK"}),
		"kept live by confirmations over gRPC")

	silence(t, med)
	// The expiry is judged against the last confirmation room recorded, read from its store
	// until the expiry clears it: a confirmation a busy machine sent late may be well over a
	// heartbeat older than the silence, so the time since the silence proves nothing.
	var confirmed, expired int64
	require.Eventually(t, func() bool {
		seen, updated := c.confirmation(t)
		if seen != 0 {
			confirmed = seen // a confirmation landing after this read only makes the bound looser
			return false
		}
		expired = updated
		return true
	}, 15*time.Second, 20*time.Millisecond, "expired")
	require.NotZero(t, confirmed, "a confirmation was seen before the expiry")
	t.Logf("expired %dms after the last confirmation seen", expired-confirmed)
	require.Greater(t, expired-confirmed, timeout.Milliseconds(), "not before live_timeout after the last confirmation")
	// The store is written first; the room's status and the counters follow.
	require.Eventually(t, func() bool {
		return !c.live(t) && metric(t, c.back, "zhibo_room_live_expired_total", nil) == 1 &&
			metric(t, c.back, "zhibo_room_live_changes_total", map[string]string{"status": "preparing"}) == 1
	}, 15*time.Second, 20*time.Millisecond, "set preparing and counted once")
}

// A media process that dies and is replaced within the offline grace, its encoder publishing
// again to the new one, does not make the room flap: the new publish start renews the room
// before live_timeout runs out, and its confirmations keep it live after.
func TestMediaRestartWithinGraceDoesNotFlap(t *testing.T) {
	const timeout = 4 * time.Second
	c := newExpiryCluster(t, 200*time.Millisecond, 3*time.Second, timeout)
	old := c.media(t)
	c.publish(t, old)
	require.Eventually(t, func() bool { return c.live(t) }, 15*time.Second, 20*time.Millisecond, "live from the publish start")

	silence(t, old)
	died := time.Now()
	c.publish(t, c.media(t)) // the encoder reconnects to the restarted process
	c.stayLive(t, died, 2*timeout, "no PREPARING across the restart, nor after it")
	require.Zero(t, metric(t, c.back, "zhibo_room_live_expired_total", nil))
	require.Equal(t, []string{`status="live" 1`}, liveChanges(t, c.back), "one LIVE and no PREPARING")
}

// liveChanges lists zhibo_room_live_changes_total's series as `status="…" N`.
func liveChanges(t *testing.T, a *App) []string {
	mfs, err := a.Reg.Gather()
	require.NoError(t, err)
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "zhibo_room_live_changes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				out = append(out, fmt.Sprintf("%s=%q %v", l.GetName(), l.GetValue(), m.GetCounter().GetValue()))
			}
		}
	}
	return out
}
