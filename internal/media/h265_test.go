package media

import (
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q191201771/lal/pkg/avc"
	"github.com/q191201771/lal/pkg/base"
	"github.com/q191201771/lal/pkg/hevc"
	"github.com/q191201771/lal/pkg/httpflv"
	"github.com/q191201771/lal/pkg/rtmp"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/media/mediatest"
)

// rtmpCodecHevcLegacy is the FLV/RTMP video codec id Chinese CDNs use for H.265 (not in the
// FLV spec; "enhanced RTMP" signals HEVC with a FourCC instead).
const rtmpCodecHevcLegacy = 12

// hevcFrames encodes seconds of 30 fps H.265 with ffmpeg (1 s GOP, no B-frames) and returns
// its VPS, SPS and PPS and its frames, each the VCL NAL units of one picture (x265 writes
// one slice per picture) with the SEI before it.
func hevcFrames(t *testing.T, seconds int) (vps, sps, pps []byte, frames [][][]byte, keys []bool) {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-encoders").Output()
	require.NoError(t, err)
	if !strings.Contains(string(out), "libx265") {
		t.Skip("ffmpeg has no libx265")
	}
	path := filepath.Join(t.TempDir(), "v.hevc")
	enc := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size="+small+":rate=30",
		"-t", strconv.Itoa(seconds), "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-x265-params", "keyint=30:min-keyint=30:bframes=0:scenecut=0:log-level=error", "-f", "hevc", path)
	b, err := enc.CombinedOutput()
	require.NoError(t, err, "%s", b)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	nals, err := avc.SplitNaluAnnexb(raw)
	require.NoError(t, err)
	var cur [][]byte
	for _, nal := range nals {
		switch typ := hevc.ParseNaluType(nal[0]); {
		case typ == hevc.NaluTypeVps:
			vps = nal
		case typ == hevc.NaluTypeSps:
			sps = nal
		case typ == hevc.NaluTypePps:
			pps = nal
		case typ < 32: // VCL: one picture
			cur = append(cur, nal)
			frames = append(frames, cur)
			keys = append(keys, hevc.IsIrapNalu(typ))
			cur = nil
		default: // SEI, AUD: with the next picture
			cur = append(cur, nal)
		}
	}
	require.NotNil(t, vps)
	require.NotEmpty(t, frames)
	require.True(t, keys[0])
	return vps, sps, pps, frames, keys
}

// hevcTag is the FLV/RTMP video body of one picture in the legacy codec id: frame type and
// codec id, AVC-style packet type 1 (NAL units), composition time 0, length-prefixed NALs.
func hevcTag(nals [][]byte, key bool) []byte {
	body := []byte{0x20 | rtmpCodecHevcLegacy, 1, 0, 0, 0}
	if key {
		body[0] = 0x10 | rtmpCodecHevcLegacy
	}
	for _, nal := range nals {
		body = binary.BigEndian.AppendUint32(body, uint32(len(nal)))
		body = append(body, nal...)
	}
	return body
}

// TestH265LegacyCodecID: an H.265 publish in the legacy RTMP codec id 12 (what Chinese
// encoders and OBS forks send; ffmpeg 5.1's FLV muxer refuses HEVC, so this test packs the
// tags itself) is accepted, its sequence header and frames reach an HTTP-FLV viewer byte for
// byte, and HLS carries it as H.265 (ffprobe sees hevc). ffprobe 5.1 itself cannot decode
// the FLV side: its FLV demuxer knows no codec id 12 (it reports the stream as "unknown");
// players that take id 12 (flv.js forks, ijkplayer, VLC builds with the patch) do.
func TestH265LegacyCodecID(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	vps, sps, pps, frames, keys := hevcFrames(t, 4)
	seq, err := hevc.BuildSeqHeaderFromVpsSpsPps(vps, sps, pps)
	require.NoError(t, err)
	require.Equal(t, byte(0x10|rtmpCodecHevcLegacy), seq[0], "legacy: keyframe, codec id 12")

	e := start(t, nil)
	key := e.rooms.Add(12)
	ps := rtmp.NewPushSession(func(o *rtmp.PushSessionOption) { o.PushTimeoutMs = 5000 })
	require.NoError(t, ps.Push(e.rtmp+"/"+key))
	defer ps.Dispose()
	send := func(ts uint32, payload []byte) error {
		return ps.WriteMsg(base.RtmpMsg{Header: base.RtmpHeader{Csid: rtmp.CsidVideo, MsgLen: uint32(len(payload)),
			MsgTypeId: base.RtmpTypeIdVideo, MsgStreamId: rtmp.Msid1, TimestampAbs: ts}, Payload: payload})
	}
	require.NoError(t, send(0, seq))
	e.publishing(t, 12, true)

	// A viewer from the start: the sequence header, then the frames as sent.
	resp, err := http.Get(e.http + "/live/12.flv")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() { // at 30 fps, as an encoder sends
		defer close(done)
		start := time.Now()
		for i, f := range frames {
			ts := uint32(i * 1000 / 30)
			time.Sleep(time.Until(start.Add(time.Duration(ts) * time.Millisecond)))
			if send(ts, hevcTag(f, keys[i])) != nil {
				return
			}
		}
	}()
	head := make([]byte, len(httpflv.FlvHeader))
	_, err = io.ReadFull(resp.Body, head)
	require.NoError(t, err)
	sawSeq := false
	for i := 0; i < 10; {
		tag, err := httpflv.ReadTag(resp.Body)
		require.NoError(t, err)
		if tag.Header.Type != httpflv.TagTypeVideo {
			continue
		}
		if tag.IsHevcKeySeqHeader() {
			require.Equal(t, seq, tag.Payload())
			sawSeq = true
			continue
		}
		require.True(t, sawSeq, "the sequence header comes first")
		require.True(t, tag.IsHevc())
		require.Equal(t, hevcTag(frames[i], keys[i]), tag.Payload(), "frame %d as sent", i)
		i++
	}

	require.Eventually(t, func() bool { return get(t, e.http+"/hls/12.m3u8") == 200 }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{"hevc"}, mediatest.Probe(t, e.http+"/hls/12.m3u8"))
}
