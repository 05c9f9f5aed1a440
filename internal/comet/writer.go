package comet

import (
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// Writers on demand. Most viewers of most rooms are idle most of the time:
// between heartbeats (every 30 s) nothing is written to them. A writer
// goroutine and a 64-slot channel per connection would cost about 3.5 KB
// each for nothing, so the send queue is a slice allocated when the first
// frame arrives and the writer goroutine is started by the frame that finds
// none running. A writer that finds the queue empty parks; the service's
// writer clock ticks every writerTick, and a writer that sees two ticks go
// by with nothing written gives its queue back and exits. Busy rooms push
// every 50–100 ms, so their viewers keep their writer (no goroutine churn);
// an idle viewer's writer lives one to two ticks after each heartbeat reply.
//
// Handoff without lost wake-ups: enqueue and the writer decide under c.mu —
// enqueue appends and starts a writer unless one is running (wakes it if it
// is parked); the writer takes frames, parks, or retires only after seeing
// the queue empty under the same lock.

// defaultWriterTick is the writer clock's period: an idle writer exits after
// one to two periods without frames.
const defaultWriterTick = time.Second

// initialQueue is the send queue's first capacity; it grows (up to the
// send_queue bound) only for a connection that falls behind.
const initialQueue = 4

// writerClock is a coarse broadcast tick: parked writers wait on the current
// channel, which is closed (and replaced) every period, so one goroutine and
// one ticker time out every idle writer instead of a timer per connection.
type writerClock struct {
	ch atomic.Pointer[chan struct{}]
}

func newWriterClock() *writerClock {
	k := &writerClock{}
	ch := make(chan struct{})
	k.ch.Store(&ch)
	return k
}

// C returns the channel the next tick closes.
func (k *writerClock) C() <-chan struct{} { return *k.ch.Load() }

func (k *writerClock) tick() {
	ch := make(chan struct{})
	close(*k.ch.Swap(&ch))
}

// clockLoop ticks the writer clock until the service stops. Writers still
// parked then are woken by their connection's close.
func (s *Service) clockLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.writerTick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.clock.tick()
		}
	}
}

// enqueue queues a frame for c without blocking, starting its writer if
// none runs. It returns false only when the queue is full; frames for a
// closed connection are silently discarded.
func (s *Service) enqueue(c *conn, b []byte) bool {
	if c.closed.Load() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.enqueueLocked(c, b, false)
}

// enqueueLocked is enqueue with c.mu held. front puts b ahead of the frames
// already queued: the unwritten rest of a direct write, which left before
// them.
func (s *Service) enqueueLocked(c *conn, b []byte, front bool) bool {
	if c.reason != "" {
		return true
	}
	if len(c.queue)-c.head >= s.cfg.SendQueue {
		return false
	}
	switch {
	case c.queue == nil:
		c.queue = make([][]byte, 0, min(initialQueue, s.cfg.SendQueue))
	case len(c.queue) == cap(c.queue) && c.head > 0:
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	if front && len(c.queue) > c.head {
		c.queue = slices.Insert(c.queue, c.head, b)
	} else {
		c.queue = append(c.queue, b)
	}
	if !c.writing {
		s.startWriter(c)
		return true
	}
	c.wakeWriter()
	return true
}

// startWriter starts a writer goroutine for c, which is open; c.mu is held.
func (s *Service) startWriter(c *conn) {
	c.writing = true
	c.wake = make(chan struct{}, 1)
	// c is open, so it still holds its slot in s.wg (released by end): the
	// counter is above zero and Add may race with Stop's Wait.
	s.wg.Add(1)
	go s.writeLoop(c)
}

// reply sends a frame the reader produced (a heartbeat reply, a pong). When
// no writer runs and nothing is queued — an idle connection — the reader
// writes it itself, so a heartbeat does not start a writer goroutine; it
// cannot block for long, the socket buffer being empty. Otherwise the frame
// is queued behind the others. It returns false only when the queue is
// full; a failed direct write drops the connection.
func (s *Service) reply(c *conn, b []byte) bool {
	c.mu.Lock()
	if c.writing || c.reason != "" {
		c.mu.Unlock()
		return s.enqueue(c, b)
	}
	c.writing = true
	c.mu.Unlock()
	err := c.writeDirect(b, s.cfg.WriteTimeout)
	s.releaseWrites(c)
	if err != nil && !c.isClosed() {
		s.drop(c, dropWriteError, err)
	}
	return true
}

// holdWrites gives the calling goroutine the writer role of a connection
// that has no writer: frames enqueued meanwhile wait in the queue while it
// writes directly. releaseWrites hands the role back.
func (c *conn) holdWrites() {
	c.mu.Lock()
	c.writing = true
	c.mu.Unlock()
}

// releaseWrites ends holdWrites: a writer is started for frames queued
// meanwhile.
func (s *Service) releaseWrites(c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = false
	if c.reason == "" && len(c.queue) > c.head {
		s.startWriter(c)
		return
	}
	c.queue, c.head = nil, 0
}

// wakeWriter wakes a parked writer; c.mu is held. The send never blocks: a
// token already waiting wakes the writer just as well.
func (c *conn) wakeWriter() {
	if !c.parked {
		return
	}
	c.parked = false
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take moves up to len(dst) queued frames into dst; c.mu is held.
func (c *conn) take(dst [][]byte) int {
	n := copy(dst, c.queue[c.head:])
	clear(c.queue[c.head : c.head+n])
	c.head += n
	if c.head == len(c.queue) {
		c.queue, c.head = c.queue[:0], 0
	}
	return n
}

// retire ends the writer's ownership and gives the queue back; c.mu is
// held. The next enqueue starts a new writer.
func (c *conn) retire() {
	c.writing, c.parked = false, false
	c.wake, c.queue, c.head = nil, nil, 0
}

// writeLoop drains c's queue, batching up to maxWritev frames into one
// vectored write with a deadline. It exits when the connection closes, a
// write fails, or the queue stayed empty for two writer-clock ticks.
func (s *Service) writeLoop(c *conn) {
	defer s.wg.Done()
	var arr [maxWritev][]byte
	idleTicks := 0
	for {
		c.mu.Lock()
		n := c.take(arr[:])
		if n == 0 {
			if c.reason != "" || idleTicks >= 2 {
				c.retire()
				c.mu.Unlock()
				return
			}
			c.parked = true
			wake, tick := c.wake, s.clock.C()
			c.mu.Unlock()
			select {
			case <-wake:
			case <-tick:
				idleTicks++
			}
			continue
		}
		c.mu.Unlock()
		idleTicks = 0
		_ = c.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		nb := net.Buffers(arr[:n])
		_, err := nb.WriteTo(c.nc)
		clear(arr[:])
		if err != nil {
			if !c.isClosed() {
				s.drop(c, dropWriteError, err)
			}
			c.mu.Lock()
			c.retire()
			c.mu.Unlock()
			return
		}
	}
}
