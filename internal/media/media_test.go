package media

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/q191201771/lal/pkg/httpflv"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/media/mediatest"
	"github.com/zhibo-live/zhibo/internal/room/roomtest"
)

// small is the picture the tests here publish: the path is the same as at 720p, the CPU
// shared with the other tests is not (test/e2e publishes 720p).
const small = "320x240"

// TestPublishAndPlay: a stream published with the room's key plays as HTTP-FLV and HLS with
// H.264 and AAC; the room goes live at the start and preparing one grace after the end.
func TestPublishAndPlay(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, nil)
	key := e.rooms.Add(7)
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 5)
	e.publishing(t, 7, true)
	require.Eventually(t, func() bool { return e.rooms.Live(7) }, 3*time.Second, 10*time.Millisecond)

	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, e.http+"/live/7.flv"))
	require.Eventually(t, func() bool { return get(t, e.http+"/hls/7.m3u8") == 200 }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, e.http+"/hls/7.m3u8"))
	// segments of about hls_segment (1 s), one 1 s GOP each
	pl := body(t, e.http+"/hls/7.m3u8")
	durs := regexp.MustCompile(`#EXTINF:([0-9.]+),`).FindAllStringSubmatch(pl, -1)
	require.NotEmpty(t, durs, pl)
	for _, d := range durs {
		sec, err := strconv.ParseFloat(d[1], 64)
		require.NoError(t, err)
		require.InDelta(t, 1.0, sec, 0.15, pl)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.streams))
	st := status(t, e.http, 7)
	require.True(t, st.Publishing)
	require.Equal(t, "/live/7.flv", st.Play.FLV)
	require.Equal(t, "/hls/7.m3u8", st.Play.HLS)
	require.Equal(t, 2, st.Viewers.HLS, "two clients read the playlist: the poll above and ffprobe")
	require.Equal(t, e.s.RTMPAddr().(*net.TCPAddr).Port, st.RTMPPort)
	vv, err := e.s.VideoViewers(context.Background(), []int64{7, 8})
	require.NoError(t, err)
	require.Equal(t, map[int64]int64{7: 2}, vv, "FLV and HLS viewers together, rooms with none left out")
	require.Positive(t, testutil.ToFloat64(e.s.m.out.WithLabelValues("flv")))
	require.Positive(t, testutil.ToFloat64(e.s.m.out.WithLabelValues("hls")))

	require.NoError(t, p.Wait(t, 15*time.Second), p.Output())
	e.publishing(t, 7, false)
	require.Equal(t, 404, get(t, e.http+"/live/7.flv"), "an ended stream is gone at once")
	require.Eventually(t, func() bool { return !e.rooms.Live(7) }, 3*time.Second, 10*time.Millisecond)
	require.Equal(t, []roomtest.Change{{Room: 7, Live: true}, {Room: 7, Live: false}}, e.rooms.Changes())
	require.Positive(t, testutil.ToFloat64(e.s.m.ingest))
}

// TestReconnectWithinGrace: an encoder that comes back within the grace keeps the room live
// without a PREPARING / LIVE flap.
func TestReconnectWithinGrace(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, func(c *Config) { c.OfflineGrace = 5 * time.Second })
	key := e.rooms.Add(3)
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 1)
	e.publishing(t, 3, true)
	require.NoError(t, p.Wait(t, 10*time.Second), p.Output())
	e.publishing(t, 3, false)
	p = mediatest.Publish(t, e.rtmp+"/3?key="+key, small, 1) // the ROOMID?key=KEY form
	e.publishing(t, 3, true)
	require.NoError(t, p.Wait(t, 10*time.Second), p.Output())
	require.Equal(t, []roomtest.Change{{Room: 3, Live: true}}, e.rooms.Changes())
}

// TestRefused: a wrong key, a key for another room id, no key and a second publisher are
// refused and create no stream; the first publisher goes on.
func TestRefused(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, nil)
	key := e.rooms.Add(5)
	e.rooms.Add(6)

	for _, name := range []string{"live_wrong", "6?key=" + key, "5?key=live_wrong"} {
		bad := mediatest.Publish(t, e.rtmp+"/"+name, small, 3)
		require.Error(t, bad.Wait(t, 10*time.Second), name)
	}
	noKey := mediatest.Publish(t, e.rtmp+"/", small, 3)
	require.Error(t, noKey.Wait(t, 10*time.Second), "a publish without a key")
	require.Empty(t, e.s.engine.Publishing())
	require.Equal(t, 3.0, testutil.ToFloat64(e.s.m.refused.WithLabelValues(reasonBadKey)))
	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.refused.WithLabelValues(reasonNoKey)))
	require.Equal(t, 404, get(t, e.http+"/live/5.flv"))
	require.Empty(t, e.rooms.Changes())

	first := mediatest.Publish(t, e.rtmp+"/"+key, small, 6)
	e.publishing(t, 5, true)
	second := mediatest.Publish(t, e.rtmp+"/5?key="+key, small, 3)
	require.Error(t, second.Wait(t, 10*time.Second))
	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.refused.WithLabelValues(reasonBusy)))
	require.True(t, first.Running())
	e.publishing(t, 5, true)
}

// TestKeyRotationCuts: a rotated key cuts its publisher at once when room says so
// (KeyRotated), and within about key_check_interval when room is only asked again.
func TestKeyRotationCuts(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, nil)
	for _, direct := range []bool{true, false} {
		id := int64(10)
		if !direct {
			id = 11
		}
		key := e.rooms.Add(id)
		p := mediatest.Publish(t, e.rtmp+"/"+key, small, 8)
		e.publishing(t, id, true)
		e.rooms.Rotate(id)
		at := time.Now()
		if direct {
			e.s.KeyRotated(id)
		}
		e.publishing(t, id, false)
		require.Less(t, time.Since(at), 2*time.Second)
		_ = p.Wait(t, 5*time.Second)
		// the old key stays refused
		again := mediatest.Publish(t, e.rtmp+"/"+key, small, 2)
		require.Error(t, again.Wait(t, 10*time.Second))
	}
	require.Equal(t, 2.0, testutil.ToFloat64(e.s.m.cut.WithLabelValues(reasonRotated)))
}

// TestGarbageDoesNotDisturb: garbage, a bare handshake and a silent client on the RTMP port
// are closed without touching a running stream.
func TestGarbageDoesNotDisturb(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, func(c *Config) { c.HandshakeTimeout = 500 * time.Millisecond })
	key := e.rooms.Add(9)
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 5)
	e.publishing(t, 9, true)

	addr := e.s.RTMPAddr().String()
	junk := make([]byte, 64<<10)
	_, _ = rand.Read(junk)
	handshake := make([]byte, 1+1536+1536)
	handshake[0] = 3
	// C0+C1+C2, then a chunk claiming a huge message on csid 3, then an audio message
	// before any publish.
	chunks := append(append([]byte{}, handshake...), 0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0)
	orphan := append(append([]byte{}, handshake...), 0x04, 0, 0, 0, 0, 0, 2, 0x08, 1, 0, 0, 0, 0xaf, 0x01)
	for _, payload := range [][]byte{junk, handshake[:10], chunks, orphan, nil} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, _ = c.Write(payload)
		// The server ends each connection: garbage at once, a silent or unfinished one
		// after handshake_timeout.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 8192)
		for {
			if _, err := c.Read(buf); err != nil {
				var ne net.Error
				require.False(t, errorsAs(err, &ne) && ne.Timeout(), "connection with %d bytes of junk not closed", len(payload))
				break
			}
		}
		_ = c.Close()
	}
	t.Logf("faults recovered: %v", testutil.ToFloat64(e.s.m.rtmpErrs))
	require.True(t, p.Running(), p.Output())
	e.publishing(t, 9, true)
	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, e.http+"/live/9.flv"))
	require.NoError(t, p.Wait(t, 15*time.Second), p.Output())
}

// TestLimits: a stream over max_ingest_kbps for bitrate_grace is cut, so is one carrying a
// codec outside media.codecs, and a publish over max_streams is refused.
func TestLimits(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	t.Run("bitrate", func(t *testing.T) {
		e := start(t, func(c *Config) { c.MaxIngestKbps = 50; c.BitrateGrace = time.Second })
		key := e.rooms.Add(1)
		p := mediatest.Publish(t, e.rtmp+"/"+key, small, 8, "-b:v", "800k")
		e.publishing(t, 1, true)
		e.publishing(t, 1, false)
		_ = p.Wait(t, 10*time.Second)
		require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.cut.WithLabelValues(reasonBitrate)))
	})
	t.Run("codec", func(t *testing.T) {
		e := start(t, func(c *Config) { c.Codecs = []string{CodecH264} })
		key := e.rooms.Add(1)
		p := mediatest.Publish(t, e.rtmp+"/"+key, small, 5)
		_ = p.Wait(t, 10*time.Second)
		e.publishing(t, 1, false)
		require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.cut.WithLabelValues(reasonCodec)))
	})
	t.Run("max_streams", func(t *testing.T) {
		e := start(t, func(c *Config) { c.MaxStreams = 1 })
		k1, k2 := e.rooms.Add(1), e.rooms.Add(2)
		p := mediatest.Publish(t, e.rtmp+"/"+k1, small, 4)
		e.publishing(t, 1, true)
		over := mediatest.Publish(t, e.rtmp+"/"+k2, small, 2)
		require.Error(t, over.Wait(t, 10*time.Second))
		require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.refused.WithLabelValues(reasonLimit)))
		require.True(t, p.Running())
	})
}

// TestPlaybackNotFound: an unknown or offline room and every malformed path answer 404 at
// once, never a waiting request.
func TestPlaybackNotFound(t *testing.T) {
	e := start(t, nil)
	e.rooms.Add(4) // exists, publishes nothing
	for _, path := range []string{"/live/4.flv", "/live/999.flv", "/hls/4.m3u8", "/hls/4/0.ts", "/hls/999/3.ts",
		"/live/abc.flv", "/live/04.flv", "/live/-4.flv", "/live/4.flv.flv", "/live/4", "/hls/4.ts", "/hls/x/0.ts",
		"/hls/4/00.ts", "/hls/4/-1.ts", "/hls/4/1.m3u8", "/live/%2e%2e%2f4.flv", "/live/4%2f..%2f5.flv",
		"/live/99999999999999999999.flv"} {
		at := time.Now()
		require.Equal(t, 404, get(t, e.http+path), path)
		require.Less(t, time.Since(at), time.Second, path)
	}
	require.Equal(t, 400, get(t, e.http+"/api/media/rooms/abc"))
	require.Equal(t, 200, get(t, e.http+"/api/media/rooms/4"))
}

// TestStopSetsPreparing: stopping the service cuts the publisher and sets its room preparing
// at once, without waiting out the grace.
func TestStopSetsPreparing(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, func(c *Config) { c.OfflineGrace = time.Hour })
	key := e.rooms.Add(2)
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 8)
	e.publishing(t, 2, true)
	require.Eventually(t, func() bool { return e.rooms.Live(2) }, 3*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.s.Stop(ctx))
	require.False(t, e.rooms.Live(2))
	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.cut.WithLabelValues(reasonStop)))
	_ = p.Wait(t, 5*time.Second)
}

// TestFLVStartsOnKeyframe: a viewer joining mid-GOP gets the FLV header, the sequence headers
// and then video from a keyframe on — from the GOP cache at once, or, without one, from the
// next keyframe.
func TestFLVStartsOnKeyframe(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	for _, gops := range []int{1, 0} {
		t.Run(fmt.Sprintf("gop_cache=%d", gops), func(t *testing.T) {
			e := start(t, func(c *Config) { c.GOPCache = gops })
			key := e.rooms.Add(8)
			p := mediatest.Publish(t, e.rtmp+"/"+key, small, 4)
			e.publishing(t, 8, true)
			// Once the first HLS segment is out, the second GOP has begun: a join from now
			// on is not at the stream's first frame.
			require.Eventually(t, func() bool { return get(t, e.http+"/hls/8.m3u8") == 200 }, 5*time.Second, 20*time.Millisecond)
			resp, err := http.Get(e.http + "/live/8.flv")
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, "video/x-flv", resp.Header.Get("Content-Type"))
			head := make([]byte, len(httpflv.FlvHeader))
			_, err = io.ReadFull(resp.Body, head)
			require.NoError(t, err)
			require.Equal(t, httpflv.FlvHeader, head)
			sawSeq := false
			for {
				tag, err := httpflv.ReadTag(resp.Body)
				require.NoError(t, err)
				if tag.Header.Type != httpflv.TagTypeVideo {
					continue
				}
				if tag.IsVideoKeySeqHeader() {
					sawSeq = true
					continue
				}
				require.True(t, sawSeq, "the sequence header comes before any frame")
				require.True(t, tag.IsAvcKeyNalu(), "the first frame is a keyframe")
				break
			}
			_ = p.Wait(t, 10*time.Second)
		})
	}
}

// TestFLVJoinAtPublishStart: a viewer that joins as soon as the stream exists — before the
// publisher sent its metadata and sequence headers, as a player does when LIVE arrives — still
// gets the sequence headers before the first frame, and that frame is a keyframe.
func TestFLVJoinAtPublishStart(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	e := start(t, nil)
	key := e.rooms.Add(9)
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 3)
	var resp *http.Response
	require.Eventually(t, func() bool {
		r, err := http.Get(e.http + "/live/9.flv")
		if err != nil || r.StatusCode != 200 {
			if r != nil {
				r.Body.Close()
			}
			return false
		}
		resp = r
		return true
	}, 5*time.Second, time.Millisecond)
	defer resp.Body.Close()
	head := make([]byte, len(httpflv.FlvHeader))
	_, err := io.ReadFull(resp.Body, head)
	require.NoError(t, err)
	sawVideoSeq, sawAudioSeq := false, false
	for {
		tag, err := httpflv.ReadTag(resp.Body)
		require.NoError(t, err)
		if tag.Header.Type == httpflv.TagTypeAudio {
			if tag.IsAacSeqHeader() {
				sawAudioSeq = true
			} else {
				require.True(t, sawAudioSeq, "the AAC sequence header comes before any audio frame")
			}
			continue
		}
		if tag.Header.Type != httpflv.TagTypeVideo {
			continue
		}
		if tag.IsVideoKeySeqHeader() {
			sawVideoSeq = true
			continue
		}
		require.True(t, sawVideoSeq, "the video sequence header comes before any frame")
		require.True(t, tag.IsAvcKeyNalu(), "the first frame is a keyframe")
		break
	}
	_ = p.Wait(t, 10*time.Second)
}
