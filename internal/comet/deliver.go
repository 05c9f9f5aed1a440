package comet

import (
	"errors"
	"os"
	"sync"
	"time"
)

// Delivery of pushed frames. A push takes a snapshot of its target
// connections under the bucket's read lock, releases the lock, and writes to
// them from at most one goroutine per core. Each connection with nothing
// queued is written directly: one non-blocking write system call on its
// socket (direct_linux.go). Only when the socket buffer is full does the
// rest go to the connection's send queue, drained by a writer goroutine that
// waits for the socket under the write deadline (writer.go); frames for that
// connection queue behind it until the writer catches up.
//
// Why: with a writer goroutine woken per connection per push, a batch to a
// room of 10,000 viewers made 10,000 goroutines runnable at once, and every
// other goroutine of the process (the HTTP handlers taking the next
// comments, the queue consumer, the job's flusher) waited behind all of
// them; each write also paid a goroutine switch and a deadline update.

// fanoutChunk is the fewest connections worth another fan-out goroutine.
const fanoutChunk = 512

// connSlices recycles push snapshots (slices of a room's connections).
var connSlices = sync.Pool{New: func() any { return new([]*conn) }}

// snapshot returns the connections add appends under the read lock of each
// of buckets, in a pooled slice that release gives back.
func snapshot(buckets []*bucket, add func(b *bucket, conns []*conn) []*conn) *[]*conn {
	p := connSlices.Get().(*[]*conn)
	for _, b := range buckets {
		b.mu.RLock()
		*p = add(b, *p)
		b.mu.RUnlock()
	}
	return p
}

func release(p *[]*conn) {
	clear(*p)
	if cap(*p) > 1<<20 {
		return // one huge broadcast: do not keep its slice
	}
	*p = (*p)[:0]
	connSlices.Put(p)
}

// pushStats accumulates one fan-out's outcome.
type pushStats struct {
	delivered int // connections given a frame (on the socket or queued)
	direct    int // of which written whole by the fan-out itself
	messages  int // messages × connections
	bytes     int
	slow      []*conn // queue full: closed once the fan-out is over
}

func (st *pushStats) add(o *pushStats) {
	st.delivered += o.delivered
	st.direct += o.direct
	st.messages += o.messages
	st.bytes += o.bytes
	st.slow = append(st.slow, o.slow...)
}

// fanOut runs serve over conns, split between at most fanoutWorkers
// goroutines, and returns once all are done.
func (s *Service) fanOut(conns []*conn, serve func(st *pushStats, conns []*conn, w *directWriter)) pushStats {
	writer := func() *directWriter {
		if s.cfg.DirectWrites && directWrites {
			return newDirectWriter()
		}
		return nil
	}
	workers := min(s.fanoutWorkers, (len(conns)+fanoutChunk-1)/fanoutChunk)
	if workers <= 1 {
		var st pushStats
		serve(&st, conns, writer())
		return st
	}
	per := (len(conns) + workers - 1) / workers
	sts := make([]pushStats, workers)
	var wg sync.WaitGroup
	for i := 1; i < workers; i++ {
		part := conns[i*per : min((i+1)*per, len(conns))]
		wg.Go(func() { serve(&sts[i], part, writer()) })
	}
	serve(&sts[0], conns[:per], writer())
	wg.Wait()
	for i := range sts[1:] {
		sts[0].add(&sts[i+1])
	}
	return sts[0]
}

// deliver writes one frame set to conns.
func (s *Service) deliver(conns []*conn, fs *frameSet) pushStats {
	return s.fanOut(conns, func(st *pushStats, conns []*conn, w *directWriter) {
		var one [1][]byte
		for _, c := range conns {
			if one[0] = fs.frameFor(c); one[0] != nil && st.send(s, c, one[:], w) {
				st.messages += len(fs.msgs)
			}
		}
	})
}

// send gives c the bytes of bufs, in order, and counts the outcome. With w
// (direct writes on), a connection with no writer and nothing queued is
// written directly and only what its socket does not take is queued;
// otherwise the bytes are queued behind the rest. It reports whether c got
// them: false when c's queue is full (c is then closed after the fan-out).
func (st *pushStats) send(s *Service, c *conn, bufs [][]byte, w *directWriter) bool {
	size := 0
	for _, b := range bufs {
		size += len(b)
	}
	ok, direct := s.send(c, bufs, size, w)
	if !ok {
		st.slow = append(st.slow, c)
		return false
	}
	st.delivered++
	st.bytes += size
	if direct {
		st.direct++
	}
	return true
}

func (s *Service) send(c *conn, bufs [][]byte, size int, w *directWriter) (ok, direct bool) {
	if c.closed.Load() {
		return true, false
	}
	c.mu.Lock()
	if w == nil || c.raw == nil || c.writing || c.reason != "" || len(c.queue) > c.head {
		ok := s.enqueueLocked(c, joined(bufs, 0, size), false)
		c.mu.Unlock()
		return ok, false
	}
	c.writing = true // the writer role, as reply takes it
	c.mu.Unlock()

	n, err := w.try(c.raw, bufs)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// A deadline of an earlier blocking write (reply, writer) has passed.
		_ = c.nc.SetWriteDeadline(time.Time{})
		n, err = w.try(c.raw, bufs)
	}
	if err != nil {
		s.releaseWrites(c)
		if !c.isClosed() {
			s.drop(c, dropWriteError, err)
		}
		return true, false
	}
	if n == size {
		s.releaseWrites(c)
		return true, true
	}
	// The socket buffer is full: the rest goes first in the queue, and a
	// writer goroutine takes over the role.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = false
	if c.reason != "" {
		c.queue, c.head = nil, 0
		return true, false
	}
	return s.enqueueLocked(c, joined(bufs, n, size), true), false
}

// joined returns the bytes of bufs from offset skip on as one slice: bufs[0]
// itself when it holds them all (no copy), else a new slice.
func joined(bufs [][]byte, skip, size int) []byte {
	if len(bufs) == 1 {
		return bufs[0][skip:]
	}
	out := make([]byte, 0, size-skip)
	for _, b := range bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		out = append(out, b[skip:]...)
		skip = 0
	}
	return out
}
