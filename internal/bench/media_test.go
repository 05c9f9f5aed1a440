package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
)

// A short media run against a real node: the bench's publishers publish with the rooms' stream
// keys, every viewer gets frames until the end, frames are matched to their send times (added
// latency), HLS segments are matched to the keyframes that closed them (segment delay), and
// the reports are written.
func TestMediaFanout(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	url := startNode(t, func(c *config.Config) { c.Media.MaxConnsPerIP = 0 })
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := bench.RunMedia(ctx, bench.MediaConfig{URL: url, Streams: 2, Viewers: 3, Duration: 3 * time.Second,
		Bitrate: 500, HLSPoll: 2 * time.Millisecond}, &progress)
	require.NoError(t, err, progress.String())
	t.Logf("added latency %d frames p50 %.2f p95 %.2f p99 %.2f max %.2f ms; segment delay %d segments (%d unmatched) p50 %.1f p99 %.1f max %.1f ms",
		rep.AddedSamples, rep.AddedP50Ms, rep.AddedP95Ms, rep.AddedP99Ms, rep.AddedMaxMs,
		rep.HLSSegments, rep.HLSUnmatched, rep.SegmentDelayP50Ms, rep.SegmentDelayP99Ms, rep.SegmentDelayMaxMs)
	require.Equal(t, int64(0), rep.Cut, "no viewer cut before the end")
	require.Equal(t, int64(0), rep.NoFrame, "every viewer got a frame")
	require.Greater(t, rep.FirstFrameP50Ms, 0.0)
	require.LessOrEqual(t, rep.FirstFrameP50Ms, rep.FirstFrameP99Ms)
	// 6 viewers of a 500 kbit/s video with ffmpeg's default AAC (128 kbit/s): about 3.8 Mbit/s
	// delivered (an encoder's CBR overshoots a little on a short source).
	require.InEpsilon(t, 6*(0.5+0.128), rep.Mbps, 0.5)

	// 6 viewers × 30 frames/s × 3 s: about 540 frames matched by timestamp.
	require.Greater(t, rep.AddedSamples, uint64(100), "added-latency samples")
	require.Greater(t, rep.AddedP50Ms, 0.0)
	require.LessOrEqual(t, rep.AddedP50Ms, rep.AddedP95Ms)
	require.LessOrEqual(t, rep.AddedP95Ms, rep.AddedP99Ms)
	require.Less(t, rep.AddedP50Ms, 1000.0, "a frame is not a GOP late")
	require.NotEmpty(t, rep.Series)

	// 1 s segments (media.hls_segment) over about 5 s of publishing.
	require.GreaterOrEqual(t, rep.HLSSegments, 1, "segment delays measured")
	require.Zero(t, rep.HLSUnmatched, "every segment seen closed on a keyframe the publisher sent")
	require.Greater(t, rep.SegmentDelayP50Ms, 0.0)
	require.LessOrEqual(t, rep.SegmentDelayP50Ms, rep.SegmentDelayMaxMs)
	require.Less(t, rep.SegmentDelayMaxMs, 1000.0, "listed before the next keyframe")
	require.Len(t, rep.SegmentDelays, rep.HLSSegments)
	for _, d := range rep.SegmentDelays {
		require.Greater(t, d.DelayMS, 0.0, "listed after its keyframe was sent")
	}

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "added latency")
	require.Contains(t, table.String(), "segment delay")
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "media.json"), filepath.Join(dir, "media.html")
	require.NoError(t, rep.Write(io.Discard, jsonPath, htmlPath))
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(b, &back))
	require.Contains(t, back, "added_latency_p95_ms")
	require.Contains(t, back, "hls_segment_delay_p99_ms")
	h, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	require.Contains(t, string(h), "<svg")

	_, err = bench.RunMedia(ctx, bench.MediaConfig{URL: "http://example.com", Streams: 1, Viewers: 1, Duration: time.Second, Bitrate: 500}, &progress)
	require.Error(t, err, "loopback targets only")
	_, err = bench.RunMedia(ctx, bench.MediaConfig{URL: url, Streams: 0, Viewers: 1, Duration: time.Second, Bitrate: 500}, &progress)
	require.Error(t, err)
	_, err = bench.RunMedia(ctx, bench.MediaConfig{URL: url, Streams: 1, Viewers: 1, Duration: time.Second, Bitrate: 500, HLSPoll: time.Second}, &progress)
	require.ErrorContains(t, err, "-hls_poll")
}
