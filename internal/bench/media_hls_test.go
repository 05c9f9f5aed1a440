package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The playlist zhibo serves (internal/media lal_hls.go) parses into sequence numbers and ms
// durations.
func TestParsePlaylist(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n" +
		"#EXTINF:1.000,\n3/7.ts\n#EXTINF:2.033,\n3/8.ts\n"
	require.Equal(t, []seenSegment{{seq: 7, durMS: 1000}, {seq: 8, durMS: 2033}}, parsePlaylist(pl))
	require.Empty(t, parsePlaylist(""))
}

// Segments are chained from the first keyframe: each ends where the next starts, at a
// keyframe the publisher sent; a segment ending elsewhere, or after a gap in the sequence,
// is unmatched.
func TestSegmentDelays(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sent := newSentLog()
	for ts := uint32(500); ts <= 5500; ts += 1000 { // keyframes every second from 500 ms
		sent.add(ts, true, t0.Add(time.Duration(ts)*time.Millisecond))
		sent.add(ts+33, false, t0.Add(time.Duration(ts+33)*time.Millisecond))
	}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	seen := []seenSegment{
		{seq: 0, durMS: 1000, at: at(1500 + 4)}, // 500 → 1500
		{seq: 1, durMS: 2000, at: at(3500 + 7)}, // 1500 → 3500 (a keyframe not a boundary)
		{seq: 2, durMS: 1033, at: at(4600)},     // 3500 → 4533: not a keyframe
	}
	d, un := segmentDelays(seen, sent)
	require.Equal(t, []segmentDelay{{at(1504), 4 * time.Millisecond}, {at(3507), 7 * time.Millisecond}}, d)
	require.Equal(t, 1, un)

	d, un = segmentDelays([]seenSegment{{seq: 0, durMS: 1000, at: at(1502)}, {seq: 2, durMS: 1000, at: at(3502)}}, sent)
	require.Len(t, d, 1)
	require.Equal(t, 1, un, "seq 1 never seen: seq 2's end is unknown")

	stale := append([]seenSegment(nil), seen...)
	stale[0].stale = true
	d, un = segmentDelays(stale, sent)
	require.Equal(t, []segmentDelay{{at(3507), 7 * time.Millisecond}}, d, "a stale segment only carries the chain")
	require.Equal(t, 1, un)

	d, un = segmentDelays(seen, newSentLog())
	require.Empty(t, d)
	require.Equal(t, 3, un, "nothing sent")
}
