package bench_test

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
)

// A short media run against a real node: ffmpeg publishes, every viewer gets frames until the
// end, and the figures are there.
func TestMediaFanout(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	url := startNode(t, func(c *config.Config) { c.Media.MaxConnsPerIP = 0 })
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := bench.RunMedia(ctx, bench.MediaConfig{URL: url, Streams: 2, Viewers: 3, Duration: 3 * time.Second, Bitrate: 500}, &progress)
	require.NoError(t, err, progress.String())
	require.Equal(t, int64(0), rep.Cut, "no viewer cut before the end")
	require.Equal(t, int64(0), rep.NoFrame, "every viewer got a frame")
	require.Greater(t, rep.FirstFrameP50Ms, 0.0)
	require.LessOrEqual(t, rep.FirstFrameP50Ms, rep.FirstFrameP99Ms)
	// 6 viewers of a 500 kbit/s stream: about 3 Mbit/s delivered (the audio adds a little).
	require.InDelta(t, 3.0, rep.Mbps, 1.5)

	_, err = bench.RunMedia(ctx, bench.MediaConfig{URL: "http://example.com", Streams: 1, Viewers: 1, Duration: time.Second, Bitrate: 500}, &progress)
	require.Error(t, err, "loopback targets only")
	_, err = bench.RunMedia(ctx, bench.MediaConfig{URL: url, Streams: 0, Viewers: 1, Duration: time.Second, Bitrate: 500}, &progress)
	require.Error(t, err)
}
