package job

import (
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// The adaptive window. A room that has had no batch in the last window is quiet: its next
// message leaves at once, alone. That send opens a window for the room; messages arriving
// inside it are merged and leave together when it closes (or as soon as MaxBatch of them
// wait), which opens the next window. A window that closes with nothing waiting makes the
// room quiet again. So a room never gets more than one batch per window (full batches
// aside) — the comets' writes per viewer stay bounded by 1/Window as with a fixed window —
// while a message to a quiet room waits for nothing.
//
// A quiet room also keeps Burst-1 spare batches: a message that finds the room's window open
// with nothing waiting leaves at once while a spare is left (a comment right after the room's
// audience count, say, does not wait for the count's window). Spares come back only when a
// window closes with nothing waiting, so a busy room spends them once and then gets one batch
// per window as before.
//
// Every window ends Window after the send that opened it, and sends happen in time order
// (the service reads the clock under its lock), so windows close in the order they opened:
// the open windows are a FIFO queue, not a heap, and the flusher sleeps until the oldest one
// closes.

// batchReason says why a batch left; it labels zhibo_job_room_batches_total.
type batchReason string

const (
	reasonQuiet  batchReason = "quiet"  // the room had no batch in the last window
	reasonSpare  batchReason = "spare"  // the window was open, nothing waited, a spare was left
	reasonWindow batchReason = "window" // the window since the room's last batch closed
	reasonFull   batchReason = "full"   // MaxBatch messages were waiting
	reasonStop   batchReason = "stop"   // the job is stopping
)

// batch is a room's messages handed to the comets together, with the queue messages that
// carried them (acknowledged once the batch is handed over).
type batch struct {
	room   int64
	reason batchReason
	msgs   [][]byte
	acks   []queue.Msg
	sent   []time.Time // publish time of each queue message, for the latency metric
}

// roomWindow is a room with an open window: it sent a batch less than Window ago, and what
// arrives now waits in msgs until closes.
type roomWindow struct {
	id     int64
	closes time.Time
	gen    uint64 // which entry of the close queue is this room's current one
	spare  int    // batches the room may still send inside an open window
	batch
}

// closing is an entry of the close queue; it is stale when its room has since sent a batch
// before the flusher closed the window (a full one, or one whose window was already over),
// which opened a newer window with an entry of its own.
type closing struct {
	r   *roomWindow
	gen uint64
}

// merger holds the rooms with an open window. It is not safe for concurrent use: the
// service calls it under its lock, with the time it read.
type merger struct {
	window   time.Duration
	maxBatch int
	spare    int // Burst-1: spares of a quiet room
	rooms    map[int64]*roomWindow
	queue    []closing // in order of closing time
	head     int
}

func newMerger(window time.Duration, maxBatch, burst int) *merger {
	return &merger{window: window, maxBatch: maxBatch, spare: max(burst, 1) - 1, rooms: map[int64]*roomWindow{}}
}

// add takes one queue message's msgs for a room at now. It returns the batch to send now
// (the room was quiet, or its batch is full), or nil when the messages wait for the room's
// window to close.
func (m *merger) add(now time.Time, room int64, msgs [][]byte, ack queue.Msg, sent time.Time) *batch {
	r := m.rooms[room]
	if r == nil {
		r = &roomWindow{id: room, spare: m.spare}
		m.rooms[room] = r
	}
	r.msgs = append(r.msgs, msgs...)
	r.acks = append(r.acks, ack)
	r.sent = append(r.sent, sent)
	switch {
	case !now.Before(r.closes):
		// A new room, or one whose window has closed though the flusher has not seen it
		// yet: quiet if nothing was waiting.
		if len(r.acks) == 1 {
			r.spare = m.spare
			return m.take(now, r, reasonQuiet)
		}
		return m.take(now, r, reasonWindow)
	case len(r.msgs) >= m.maxBatch:
		return m.take(now, r, reasonFull)
	case len(r.acks) == 1 && r.spare > 0:
		r.spare--
		return m.take(now, r, reasonSpare)
	}
	return nil
}

// take empties r into a batch sent at now, which opens r's next window.
func (m *merger) take(now time.Time, r *roomWindow, why batchReason) *batch {
	b := r.batch
	b.room, b.reason = r.id, why
	r.batch = batch{}
	r.closes = now.Add(m.window)
	r.gen++
	m.queue = append(m.queue, closing{r: r, gen: r.gen})
	return &b
}

// expire closes the windows due by now: a room with messages waiting sends them (and opens
// its next window), a room without becomes quiet. It returns the batches and the time the
// next window closes (zero when none is open).
func (m *merger) expire(now time.Time) (out []*batch, next time.Time) {
	for m.head < len(m.queue) {
		e := m.queue[m.head]
		if e.gen == e.r.gen && now.Before(e.r.closes) {
			m.compact()
			return out, e.r.closes
		}
		m.queue[m.head] = closing{}
		m.head++
		if e.gen != e.r.gen {
			continue // stale: the room opened a newer window
		}
		if len(e.r.acks) == 0 {
			delete(m.rooms, e.r.id)
			continue
		}
		out = append(out, m.take(now, e.r, reasonWindow))
	}
	m.queue, m.head = m.queue[:0], 0
	return out, time.Time{}
}

// idle reports whether no window is open, i.e. expire has nothing to wait for.
func (m *merger) idle() bool { return m.head == len(m.queue) }

// compact drops the close queue's consumed prefix once it is most of the slice, so the
// queue's memory follows the rooms with an open window, not every send ever made.
func (m *merger) compact() {
	if m.head > 1024 && m.head*2 > len(m.queue) {
		n := copy(m.queue, m.queue[m.head:])
		clear(m.queue[n:])
		m.queue, m.head = m.queue[:n], 0
	}
}

// drain returns every waiting batch, for Stop.
func (m *merger) drain() []*batch {
	var out []*batch
	for _, r := range m.rooms {
		if len(r.acks) > 0 {
			b := r.batch
			b.room, b.reason = r.id, reasonStop
			out = append(out, &b)
		}
	}
	clear(m.rooms)
	m.queue, m.head = nil, 0
	return out
}
