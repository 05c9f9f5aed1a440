package bench

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The source as the publisher sends it: headers first (sent once), every video frame NAL
// units (ffmpeg's closing end-of-sequence tag is left out: sent on each loop it would end
// the stream for a player), a keyframe each GOP, and a loop span past the last tag.
func TestLoadFLV(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	path := filepath.Join(t.TempDir(), "s.flv")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "30", "-c:a", "aac", "-f", "flv", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	src, err := loadFLV(path)
	require.NoError(t, err)
	var frames, keys, headers int
	var last uint32
	for i, tag := range src.tags {
		last = max(last, tag.ts)
		if tag.header {
			headers++
			require.Equal(t, headers-1, i, "headers come first")
			continue
		}
		if tag.typ == 9 {
			require.True(t, tag.video)
			require.Equal(t, byte(1), tag.payload[1], "NAL units")
			frames++
			if tag.key {
				keys++
			}
		}
	}
	require.Equal(t, 3, headers, "metadata, AVC and AAC sequence headers")
	require.Equal(t, 60, frames)
	require.Equal(t, 2, keys)
	require.Greater(t, src.span, last)
	require.LessOrEqual(t, src.span, last+40)
}
