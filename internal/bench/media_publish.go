package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/q191201771/lal/pkg/httpflv"

	"github.com/zhibo-live/zhibo/internal/media/rtmppub"
)

// The bench publishes in process (internal/media/rtmppub) rather than with ffmpeg -re, so that
// it knows when each tag reached the server: a tag's send time is just before the publisher's
// socket write of it (a write may return after the server has taken the tag on).

// rtmpDialTimeout bounds connecting and publishing.
const rtmpDialTimeout = 10 * time.Second

// flvTag is one tag of the source file.
type flvTag struct {
	typ     uint8
	ts      uint32 // ms
	payload []byte
	header  bool // metadata or a sequence header: sent once, not on each loop
	video   bool // a video frame (not a sequence header)
	key     bool // a video keyframe
}

// flvSource is the pre-encoded file in memory; span is what each loop adds to timestamps.
type flvSource struct {
	tags []flvTag
	span uint32
}

// loadFLV reads the tags of an FLV file.
func loadFLV(path string) (*flvSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(httpflv.FlvHeader)) // the 9-byte header and the first previous-tag size
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("flv header: %w", err)
	}
	src := &flvSource{}
	var lastTS, lastVideo, prevVideo uint32
	for {
		t, err := httpflv.ReadTag(f)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		p := t.Payload()
		tag := flvTag{typ: t.Header.Type, ts: t.Header.Timestamp, payload: p}
		switch {
		case t.IsMetadata():
			tag.header = true
		case t.IsVideoKeySeqHeader() || t.IsAacSeqHeader():
			tag.header = true
		case t.Header.Type == httpflv.TagTypeVideo:
			if len(p) < 2 || p[1] != 1 {
				continue // not NAL units: ffmpeg ends the file with an end-of-sequence tag
			}
			tag.video = true
			tag.key = t.IsVideoKeyNalu()
			prevVideo, lastVideo = lastVideo, tag.ts
		case t.Header.Type != httpflv.TagTypeAudio:
			continue
		}
		lastTS = max(lastTS, tag.ts)
		src.tags = append(src.tags, tag)
	}
	if len(src.tags) == 0 || lastVideo == 0 {
		return nil, errors.New("the source has no video")
	}
	src.span = lastTS + max(1, lastVideo-prevVideo) // one frame after the last tag
	return src, nil
}

// sentLog is one stream's record of when the publisher began its socket write of each video
// frame, by tag timestamp (ms), and which of those frames were keyframes.
type sentLog struct {
	mu       sync.RWMutex
	frames   map[uint32]time.Time
	keys     map[uint32]bool
	firstKey uint32
	anyKey   bool
}

func newSentLog() *sentLog {
	return &sentLog{frames: map[uint32]time.Time{}, keys: map[uint32]bool{}}
}

func (l *sentLog) add(ts uint32, key bool, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames[ts] = at
	if key {
		l.keys[ts] = true
		if !l.anyKey {
			l.firstKey, l.anyKey = ts, true
		}
	}
}

// frame is when the video frame of timestamp ts was written, if it was.
func (l *sentLog) frame(ts uint32) (time.Time, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	at, ok := l.frames[ts]
	return at, ok
}

// keyframe is when the keyframe of timestamp ts was written, if it was.
func (l *sentLog) keyframe(ts uint32) (time.Time, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.keys[ts] {
		return time.Time{}, false
	}
	return l.frames[ts], true
}

// first is the timestamp of the first keyframe written.
func (l *sentLog) first() (uint32, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.firstKey, l.anyKey
}

// publishLoop sends src's tags on p at their timestamps, paced by the wall clock, looping
// with increasing timestamps until ctx ends, and records each video frame's send time in sent.
func publishLoop(ctx context.Context, p *rtmppub.Publisher, src *flvSource, sent *sentLog) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for loop := uint32(0); ; loop++ {
		off := loop * src.span
		for i := range src.tags {
			t := &src.tags[i]
			if t.header && loop > 0 {
				continue
			}
			ts := t.ts + off
			if d := time.Until(start.Add(time.Duration(ts) * time.Millisecond)); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return nil
			}
			if t.video {
				// Stamped just before the write: a write can return after the server has
				// already taken the frame on (and a poller seen the segment it closed).
				sent.add(ts, t.key, time.Now())
			}
			if err := p.Send(t.typ, ts, t.payload); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}
