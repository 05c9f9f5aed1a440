package media

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/q191201771/lal/pkg/mpegts"
)

// maxSegmentBytes bounds one HLS segment in memory (a stream without keyframes is split
// anyway, see hlsSegments.OnTsPackets).
const maxSegmentBytes = 64 << 20

// hlsSegments cuts a stream's MPEG-TS into segments in memory, each starting with PAT/PMT on
// a keyframe, and keeps the last window+2 for the playlist. lal's remuxer calls it on the
// publisher's goroutine; HTTP readers take finished segments under mu.
type hlsSegments struct {
	target uint64 // segment duration in 90 kHz ticks
	window int

	// Publisher goroutine only.
	patpmt []byte
	cur    *hlsSegment
	next   int64

	mu   sync.Mutex
	done []*hlsSegment // oldest first
}

type hlsSegment struct {
	seq   int64
	start uint64 // 90 kHz
	last  uint64
	dur   float64 // seconds
	data  []byte
}

func newHLSSegments(target time.Duration, window int) *hlsSegments {
	return &hlsSegments{target: uint64(target.Milliseconds()) * 90, window: window}
}

// OnPatPmt implements remux.IRtmp2MpegtsRemuxerObserver.
func (h *hlsSegments) OnPatPmt(b []byte) { h.patpmt = append([]byte(nil), b...) }

// OnTsPackets implements remux.IRtmp2MpegtsRemuxerObserver: a segment closes at a boundary
// (a keyframe, or any audio frame of a stream without video) once it lasts the target, and
// in any case at ten times the target or maxSegmentBytes.
func (h *hlsSegments) OnTsPackets(pkts []byte, f *mpegts.Frame, boundary bool) {
	ts := f.Dts
	if f.Sid == mpegts.StreamIdAudio {
		ts = f.Pts
	}
	if c := h.cur; c != nil {
		d := uint64(0)
		if ts > c.start {
			d = ts - c.start
		}
		switch {
		case boundary && d >= h.target:
			h.finish(d)
		case d > 10*h.target || ts+10*h.target < c.start || len(c.data) > maxSegmentBytes:
			h.finish(c.last - c.start)
		}
	}
	if h.cur == nil {
		if !boundary || h.patpmt == nil {
			return
		}
		h.cur = &hlsSegment{seq: h.next, start: ts, data: append([]byte(nil), h.patpmt...)}
		h.next++
	}
	h.cur.data = append(h.cur.data, pkts...)
	if ts > h.cur.last {
		h.cur.last = ts
	}
}

func (h *hlsSegments) finish(ticks uint64) {
	c := h.cur
	h.cur = nil
	c.dur = float64(ticks) / 90000
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = append(h.done, c)
	if over := len(h.done) - (h.window + 2); over > 0 {
		h.done = append(h.done[:0:0], h.done[over:]...)
	}
}

// playlist is the live playlist of room, "" until a segment is finished.
func (h *hlsSegments) playlist(room int64) string {
	h.mu.Lock()
	list := h.done
	if len(list) > h.window {
		list = list[len(list)-h.window:]
	}
	list = append([]*hlsSegment(nil), list...)
	h.mu.Unlock()
	if len(list) == 0 {
		return ""
	}
	target := 1.0
	for _, s := range list {
		target = math.Max(target, math.Ceil(s.dur))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", int(target), list[0].seq)
	for _, s := range list {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%d/%d.ts\n", s.dur, room, s.seq)
	}
	return b.String()
}

// segment returns a finished segment's bytes (never modified again), or nil.
func (h *hlsSegments) segment(seq int64) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.done {
		if s.seq == seq {
			return s.data
		}
	}
	return nil
}
