package comet

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// Rolling fan-out of room batches. PushRoom appends the batch to the room's
// log as one chunk, encoded once per message version, and returns; one
// pusher goroutine per room with undelivered chunks walks the room's
// connections, giving each, in one write, every chunk it has not had yet.
// The walk goes round again while chunks arrive and stops when a whole
// round found nothing new.
//
// A connection is therefore written at most once per round, however many
// batches arrive: when a round over 10,000 viewers takes longer than the
// job's window, viewers get fewer, larger writes instead of the comet
// falling further behind with each batch. And a batch reaches each viewer at
// that viewer's next turn in the round in progress, not after the round has
// ended: its extra wait is at most one round, where merging whole batches
// per round would cost up to two (wait for the round in progress to end,
// then for one's place in the next).
//
// The chunks of one write are the packets of their batches back to back:
// one WebSocket message (or stretch of the TCP stream) holding several
// packets, which clients read in order as they read the packets of one
// batch.

// pendingBytes bounds the plain size of a room's undelivered chunks;
// PushRoom waits (within its context) for the pusher to trim delivered
// ones before it adds more.
const pendingBytes = 4 << 20

// viewEvery is how many connections a fan-out goroutine serves between
// looks at the room's log for new chunks.
const viewEvery = 16

// chunk is one pushed batch in a room's log; seq numbers are consecutive.
type chunk struct {
	seq uint64
	fs  *frameSet
}

// roomLog is a room's undelivered chunks and its pusher's state.
type roomLog struct {
	mu      sync.Mutex
	chunks  []chunk // oldest first; a round only appends to it
	seq     uint64  // seq of the newest chunk ever added
	bytes   int     // plain size of chunks
	pushing bool    // a pusher goroutine runs
	trimmed chan struct{}
}

// head is the seq of the newest chunk: a connection joining now gets only
// later ones.
func (l *roomLog) head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// view returns the chunks as they are now; the slice stays valid (chunks
// are only trimmed between rounds).
func (l *roomLog) view() []chunk {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chunks
}

// PushRoom queues one batch of op-5 JSON bodies to every connection in the
// room on this comet, in order. It never blocks on a connection (one whose
// send queue is full is closed) and returns before the batch is written:
// the room's pusher delivers it (see above). Pushes to one room should come
// from one goroutine to keep batches in order. It blocks only while the
// room already has pendingBytes undelivered, until ctx ends.
func (s *Service) PushRoom(ctx context.Context, roomID int64, msgs [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("comet: push room: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() { // a traced batch: its hand-over here
		_, span := obs.Tracer().Start(ctx, "comet push", trace.WithAttributes(
			attribute.Int64("zhibo.room", roomID), attribute.Int("zhibo.messages", len(msgs))))
		defer span.End()
	}
	b := s.bucketFor(roomID)
	var fs *frameSet
	for {
		b.mu.RLock()
		r := b.rooms[roomID]
		if r == nil {
			b.mu.RUnlock()
			return nil // nobody watches the room here
		}
		l := &r.push
		l.mu.Lock()
		if l.bytes >= pendingBytes {
			if l.trimmed == nil {
				l.trimmed = make(chan struct{})
			}
			trimmed := l.trimmed
			l.mu.Unlock()
			b.mu.RUnlock()
			select {
			case <-trimmed:
				continue
			case <-ctx.Done():
				return fmt.Errorf("comet: push room %d: %d bytes already waiting: %w", roomID, pendingBytes, ctx.Err())
			}
		}
		start := !l.pushing
		if start && !s.enter() {
			l.mu.Unlock()
			b.mu.RUnlock()
			return nil // stopped: its connections are closed
		}
		if fs == nil {
			fs = newFrameSet(msgs)
		}
		l.seq++
		l.chunks = append(l.chunks, chunk{seq: l.seq, fs: fs})
		l.bytes += fs.raw
		l.pushing = true
		l.mu.Unlock()
		b.mu.RUnlock()
		if start {
			go s.pusher(b, r)
		} else {
			s.m.merged.Inc()
		}
		return nil
	}
}

// pusher runs rounds over the room's connections until one finds nothing
// new; it holds a slot in s.wg (taken by PushRoom) until it exits.
func (s *Service) pusher(b *bucket, r *room) {
	defer s.wg.Done()
	l := &r.push
	var done uint64 // every connection has had the chunks up to done
	for {
		l.mu.Lock()
		s.trim(l, done)
		if l.seq == done {
			l.pushing = false
			l.mu.Unlock()
			return
		}
		start := l.seq
		l.mu.Unlock()

		p := snapshot([]*bucket{b}, func(_ *bucket, dst []*conn) []*conn { return append(dst, r.conns...) })
		st := s.fanOut(*p, func(st *pushStats, conns []*conn, w *directWriter) { st.roll(s, l, conns, w) })
		release(p)
		s.finishRound(&st)
		// Every connection of the snapshot had its turn after start was
		// read; one that joined since began past start.
		done = start
	}
}

// trim drops the chunks every connection has had and wakes pushes waiting
// for room; l.mu is held.
func (s *Service) trim(l *roomLog, done uint64) {
	n := 0
	for n < len(l.chunks) && l.chunks[n].seq <= done {
		c := l.chunks[n]
		l.bytes -= c.fs.raw
		if err := c.fs.failed(); err != nil {
			s.log.Warn("room batch dropped", "messages", len(c.fs.msgs), "err", err)
		}
		s.m.batches.WithLabelValues(targetRoom).Inc()
		s.m.batchSize.Observe(float64(len(c.fs.msgs)))
		n++
	}
	if n == 0 {
		return
	}
	clear(l.chunks[:n])
	l.chunks = l.chunks[n:]
	if len(l.chunks) == 0 {
		l.chunks = nil
	}
	if l.trimmed != nil {
		close(l.trimmed)
		l.trimmed = nil
	}
}

// roll gives each of conns the chunks of the log it has not had, in one
// write.
func (st *pushStats) roll(s *Service, l *roomLog, conns []*conn, w *directWriter) {
	var view []chunk
	var bufs [][]byte
	var hdr [wsMaxServerHeader]byte
	for i, c := range conns {
		if i%viewEvery == 0 {
			view = l.view()
		}
		if len(view) == 0 || c.next >= view[len(view)-1].seq {
			continue
		}
		from := 0
		if c.next >= view[0].seq {
			from = int(c.next - view[0].seq + 1)
		}
		parts := view[from:]
		c.next = parts[len(parts)-1].seq
		bufs = bufs[:0]
		if len(parts) == 1 {
			if b := parts[0].fs.frameFor(c); b != nil {
				bufs = append(bufs, b)
			}
		} else {
			size := 0
			bufs = append(bufs, nil) // the WebSocket header, once the size is known
			for _, ch := range parts {
				if b := ch.fs.packetFor(c); b != nil {
					bufs = append(bufs, b)
					size += len(b)
				}
			}
			if c.ws && size > 0 {
				bufs[0] = appendWSHeader(hdr[:0], wsOpBinary, size)
			} else {
				bufs = bufs[1:]
			}
		}
		if len(bufs) > 0 && st.send(s, c, bufs, w) {
			for _, ch := range parts {
				st.messages += len(ch.fs.msgs)
			}
		}
	}
}
