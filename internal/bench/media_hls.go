package bench

import (
	"bufio"
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds of -hls_poll: a faster poll only burns the cores the viewers share; a slower one
// adds more than the 50 ms it is there to check.
const (
	minHLSPoll = time.Millisecond
	maxHLSPoll = 50 * time.Millisecond
)

// seenSegment is a segment of the live playlist: its media sequence number, its duration
// (#EXTINF, in ms) and when the poll whose response first listed it had been read. stale: it
// was listed by the first poll, so when it appeared is not known.
type seenSegment struct {
	seq   int64
	durMS uint32
	at    time.Time
	stale bool
}

// pollPlaylist reads url every interval (from the end of one request to the start of the
// next) until ctx ends, and returns every segment it saw, in the order first seen; those the
// first answered poll listed are stale.
func pollPlaylist(ctx context.Context, hc *http.Client, url string, every time.Duration) []seenSegment {
	var out []seenSegment
	known := map[int64]bool{}
	answered := false
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return out
		}
		if resp, err := hc.Do(req); err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			at := time.Now()
			if rerr == nil && resp.StatusCode == 200 { // 404 until the first segment is finished
				for _, s := range parsePlaylist(string(body)) {
					if !known[s.seq] {
						known[s.seq] = true
						s.at, s.stale = at, !answered
						out = append(out, s)
					}
				}
			}
			answered = answered || rerr == nil
		}
		timer.Reset(every)
		select {
		case <-ctx.Done():
			return out
		case <-timer.C:
		}
	}
}

// parsePlaylist reads the segments of a live media playlist: #EXT-X-MEDIA-SEQUENCE numbers
// the first, and each #EXTINF line is followed by its URI.
func parsePlaylist(pl string) []seenSegment {
	var (
		out []seenSegment
		seq int64
		dur = -1.0
	)
	sc := bufio.NewScanner(strings.NewReader(pl))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			seq, _ = strconv.ParseInt(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			d, err := strconv.ParseFloat(v, 64)
			if err != nil {
				d = -1
			}
			dur = d
		case line == "" || strings.HasPrefix(line, "#"):
		default: // a URI
			if dur >= 0 {
				out = append(out, seenSegment{seq: seq, durMS: uint32(math.Round(dur * 1000))})
			}
			seq++
			dur = -1
		}
	}
	return out
}

// segmentDelay is one segment's delay: from the send of the keyframe that closed it to the
// poll that first listed it (read at listed).
type segmentDelay struct {
	listed time.Time
	delay  time.Duration
}

// segmentDelays matches each segment seen to the keyframe that closed it and returns the
// delay of each matched one, in sequence order. zhibo's segmenter (internal/media lal_hls.go)
// starts the first segment on the stream's first keyframe and closes each on a later
// keyframe, which also starts the next; the #EXTINF duration is the difference of the two
// timestamps, exact in ms (printed with three decimals). So segment n ends at the first
// keyframe's timestamp plus the durations of segments 0..n, and that timestamp must be a
// keyframe the publisher sent: a segment whose end is not (or that follows a segment never
// seen, which breaks the chain) counts as unmatched. A stale segment only carries the chain.
func segmentDelays(seen []seenSegment, sent *sentLog) (delays []segmentDelay, unmatched int) {
	start, ok := sent.first()
	if !ok {
		return nil, len(seen)
	}
	bySeq := make(map[int64]seenSegment, len(seen))
	var last int64 = -1
	for _, s := range seen {
		bySeq[s.seq] = s
		last = max(last, s.seq)
	}
	for seq := int64(0); seq <= last; seq++ {
		s, ok := bySeq[seq]
		if !ok {
			// Segment seq was never seen: the ends of the later ones are unknown.
			for later := seq + 1; later <= last; later++ {
				if _, ok := bySeq[later]; ok {
					unmatched++
				}
			}
			return delays, unmatched
		}
		end := start + s.durMS
		at, ok := sent.keyframe(end)
		switch {
		case s.stale: // listed when the poll began: when it appeared is unknown
		case ok:
			delays = append(delays, segmentDelay{listed: s.at, delay: s.at.Sub(at)})
		default:
			unmatched++
		}
		start = end
	}
	return delays, unmatched
}
