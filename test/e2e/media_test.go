package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/media/mediatest"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// mediaGrace is the offline grace the media scenario runs with (10 s by default).
const mediaGrace = time.Second

// liveModule is the room's live module as its owner reads it.
type liveModule struct {
	Live struct {
		Status    string `json:"status"`
		StreamKey string `json:"stream_key"`
		Play      *struct {
			FLV string `json:"flv"`
			HLS string `json:"hls"`
		} `json:"play"`
	} `json:"live"`
}

func readLive(t *testing.T, n Node, id int64, tok string) liveModule {
	var v liveModule
	code, _ := api(t, n, "GET", fmt.Sprintf("/api/rooms/%d?mask=live", id), tok, nil, &v)
	require.Equal(t, 200, code)
	return v
}

// videoPublishing reads GET /api/media/rooms/{id}.
func videoPublishing(t *testing.T, n Node, id int64) bool {
	var st struct {
		Publishing bool `json:"publishing"`
	}
	code, _ := api(t, n, "GET", fmt.Sprintf("/api/media/rooms/%d", id), "", nil, &st)
	require.Equal(t, 200, code)
	return st.Publishing
}

// videoViewers reads the room's stats.video_viewers (-1 when absent).
func videoViewers(t *testing.T, n Node, id int64) int64 {
	var v struct {
		Stats struct {
			VideoViewers *int64 `json:"video_viewers"`
		} `json:"stats"`
	}
	code, _ := api(t, n, "GET", fmt.Sprintf("/api/rooms/%d?mask=stats", id), "", nil, &v)
	require.Equal(t, 200, code)
	if v.Stats.VideoViewers == nil {
		return -1
	}
	return *v.Stats.VideoViewers
}

// status is the HTTP status of a GET of path on n, answered within 3 s.
func status(t *testing.T, n Node, path string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(n.URL + path)
	require.NoError(t, err, path)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// MediaScenario is the video path: an offline room plays nothing (404 at once), a wrong key
// is refused, ffmpeg publishing a 720p test stream with the room's key makes the room live
// (its viewers get LIVE, the live module carries the playback URLs), the stream plays as
// HTTP-FLV and HLS with H.264 + AAC through the node's HTTP origin, an FLV viewer shows in the
// room's stats.video_viewers, a second publisher is
// refused, the end of the publish brings PREPARING after the grace, and rotating the key cuts
// a publisher.
func MediaScenario(t *testing.T, n Node) {
	mediatest.NeedFFmpeg(t)
	ctx := context.Background()
	anchor := register(t, n, fmt.Sprintf("streamer%d", time.Now().UnixNano()%1e6))
	fan := register(t, n, fmt.Sprintf("watcher%d", time.Now().UnixNano()%1e6))
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "video room"}, &room)
	require.Equal(t, 200, code)
	key := readLive(t, n, room.ID, anchor.Token).Live.StreamKey
	require.NotEmpty(t, key)
	flv, hls := fmt.Sprintf("/live/%d.flv", room.ID), fmt.Sprintf("/hls/%d.m3u8", room.ID)

	var info struct {
		Token string `json:"token"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", room.ID), fan.Token, nil, &info)
	require.Equal(t, 200, code)
	ws, err := viewer.Dial(ctx, viewer.Options{Addr: n.WSURL, WS: true, UID: fan.UID, RoomID: room.ID, Token: info.Token, ProtoVer: 2})
	require.NoError(t, err)
	defer ws.Close()

	// Offline: nothing plays, at once.
	for _, p := range []string{flv, hls, fmt.Sprintf("/hls/%d/0.ts", room.ID), "/live/999999999.flv", "/live/..%2f..%2fapi%2fme.flv"} {
		require.Equal(t, 404, status(t, n, p), p)
	}
	bad := mediatest.Publish(t, n.RTMP+"/live_not_a_key", "320x240", 3)
	require.Error(t, bad.Wait(t, 10*time.Second), "a wrong key is refused")
	require.False(t, videoPublishing(t, n, room.ID))

	pub := mediatest.Publish(t, n.RTMP+"/"+key, "1280x720", 5)
	waitFor(t, ws, "LIVE", isCmd("LIVE"))
	lv := readLive(t, n, room.ID, fan.Token).Live
	require.Equal(t, "live", lv.Status)
	require.NotNil(t, lv.Play)
	require.Equal(t, flv, lv.Play.FLV)
	require.Equal(t, hls, lv.Play.HLS)
	require.Empty(t, lv.StreamKey, "the key is the owner's alone")

	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, n.URL+flv))

	// An open FLV response is a viewer of the video: the room's stats count it apart from the
	// danmaku connections (room asks media, in process or over gRPC).
	watch, err := http.Get(n.URL + flv)
	require.NoError(t, err)
	require.Equal(t, 200, watch.StatusCode)
	require.Eventually(t, func() bool { return videoViewers(t, n, room.ID) >= 1 }, 15*time.Second, 50*time.Millisecond,
		"stats.video_viewers counts the FLV viewer")
	_ = watch.Body.Close()
	require.Eventually(t, func() bool { return status(t, n, hls) == 200 }, 15*time.Second, 50*time.Millisecond)
	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, n.URL+hls))

	second := mediatest.Publish(t, fmt.Sprintf("%s/%d?key=%s", n.RTMP, room.ID, key), "320x240", 3)
	require.Error(t, second.Wait(t, 10*time.Second), "a second publisher is refused")
	require.True(t, pub.Running(), "the first publisher goes on")

	require.NoError(t, pub.Wait(t, 20*time.Second), pub.Output())
	stopped := time.Now()
	waitFor(t, ws, "PREPARING", isCmd("PREPARING"))
	require.GreaterOrEqual(t, time.Since(stopped), mediaGrace/2, "PREPARING waits for the grace")
	require.Equal(t, "preparing", readLive(t, n, room.ID, fan.Token).Live.Status)
	require.Equal(t, 404, status(t, n, flv))

	// Rotating the key in "my room" cuts the publisher.
	// A minute: only the cut may end it within the wait below.
	pub = mediatest.Publish(t, n.RTMP+"/"+key, "320x240", 60)
	require.Eventually(t, func() bool { return videoPublishing(t, n, room.ID) }, 10*time.Second, 50*time.Millisecond)
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/stream-key", room.ID), anchor.Token, nil, nil)
	require.Equal(t, 200, code)
	rotated := time.Now()
	require.Eventually(t, func() bool { return !videoPublishing(t, n, room.ID) }, 10*time.Second, 20*time.Millisecond,
		"the publisher is cut after the key rotation")
	t.Logf("publisher cut %v after the key rotation", time.Since(rotated).Round(time.Millisecond))
	_ = pub.Wait(t, 10*time.Second)
	again := mediatest.Publish(t, n.RTMP+"/"+key, "320x240", 3)
	require.Error(t, again.Wait(t, 10*time.Second), "the old key is refused")
}

func TestMediaAllInOne(t *testing.T) {
	MediaScenario(t, startAllInOne(t, func(c *config.Config) {
		c.Media.OfflineGrace = mediaGrace
	}))
}

// The media scenario with media in its own process: it resolves keys and sets the live status
// through room's gRPC, learns of a rotated key by asking again (key_check_interval), and the
// front gateway forwards /live/ and /hls/ to it.
func TestMediaAlone(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	a := startAlone(t, "-media.offline_grace", mediaGrace.String(), "-media.key_check_interval", "200ms")
	MediaScenario(t, a.front)
}
