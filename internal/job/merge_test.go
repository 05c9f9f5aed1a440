package job

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clockMerger drives a merger on a fake clock, as the service would: messages at chosen
// instants, and the flusher waking exactly when the next window closes.
type clockMerger struct {
	t     *testing.T
	m     *merger
	now   time.Time
	next  time.Time // when the flusher would wake (zero: asleep until a kick)
	seq   int
	sends []sendAt
}

type sendAt struct {
	at time.Time
	b  *batch
}

func newClockMerger(t *testing.T, window time.Duration, maxBatch, burst int) *clockMerger {
	return &clockMerger{t: t, m: newMerger(window, maxBatch, burst), now: time.Unix(1000, 0)}
}

// advance moves the clock to at, running the flusher at every window closing on the way.
func (c *clockMerger) advance(at time.Time) {
	for !c.next.IsZero() && !c.next.After(at) {
		c.now = c.next
		c.expire()
	}
	c.now = at
}

func (c *clockMerger) expire() {
	var out []*batch
	out, c.next = c.m.expire(c.now)
	for _, b := range out {
		c.sends = append(c.sends, sendAt{c.now, b})
	}
}

// msg adds one message to room at the current time.
func (c *clockMerger) msg(room int64) {
	c.seq++
	idle := c.m.idle()
	if b := c.m.add(c.now, room, [][]byte{[]byte(fmt.Sprint(c.seq))}, nil, c.now); b != nil {
		c.sends = append(c.sends, sendAt{c.now, b})
	}
	if idle { // the kick: the flusher looks again and sets its timer
		c.expire()
	}
}

func (c *clockMerger) sendsOf(room int64) []sendAt {
	var out []sendAt
	for _, s := range c.sends {
		if s.b.room == room {
			out = append(out, s)
		}
	}
	return out
}

func TestMergerQuietRoomSendsAtOnce(t *testing.T) {
	c := newClockMerger(t, 50*time.Millisecond, 100, 1)
	c.msg(1)
	require.Len(t, c.sends, 1, "a lone message does not wait for a window")
	require.Equal(t, c.now, c.sends[0].at)
	require.Equal(t, reasonQuiet, c.sends[0].b.reason)

	// A message every 60 ms, slower than the window: each leaves at once, alone.
	for range 5 {
		c.advance(c.now.Add(60 * time.Millisecond))
		c.msg(1)
		last := c.sends[len(c.sends)-1]
		require.Equal(t, c.now, last.at)
		require.Equal(t, reasonQuiet, last.b.reason)
		require.Len(t, last.b.msgs, 1)
	}
	c.advance(c.now.Add(time.Second))
	require.Empty(t, c.m.rooms, "a room with no batch in the last window is forgotten")
	require.True(t, c.m.idle())
}

func TestMergerBusyRoomMergesPerWindow(t *testing.T) {
	const window = 50 * time.Millisecond
	c := newClockMerger(t, window, 1000, 1)
	start := c.now
	// 1,000 messages/s for 1 s in room 1; room 2 quiet, one message every 200 ms.
	for i := range 1000 {
		c.advance(start.Add(time.Duration(i) * time.Millisecond))
		c.msg(1)
		if i%200 == 100 {
			c.msg(2)
		}
	}
	c.advance(start.Add(2 * time.Second))

	busy := c.sendsOf(1)
	// One batch at once, then one per window: 1 + 1 s / 50 ms.
	require.Len(t, busy, 21)
	require.Equal(t, reasonQuiet, busy[0].b.reason)
	want := 1
	for i, s := range busy {
		if i > 0 {
			require.Equal(t, reasonWindow, s.b.reason)
			require.Equal(t, window, s.at.Sub(busy[i-1].at), "batch %d leaves one window after the previous", i)
		}
		for _, m := range s.b.msgs {
			require.Equal(t, fmt.Sprint(want), string(m), "in order")
			want = room1Next(want)
		}
		for _, sent := range s.b.sent {
			require.LessOrEqual(t, s.at.Sub(sent), window, "no message waits longer than the window")
		}
	}
	for _, s := range c.sendsOf(2) {
		require.Equal(t, reasonQuiet, s.b.reason, "the quiet room is not held up by the busy one")
		require.Equal(t, s.at, s.b.sent[0])
	}
	require.Len(t, c.sendsOf(2), 5)
}

// room1Next is the sequence number of room 1's message after seq in the busy test, where
// every 200th message from the 101st on is followed by one to room 2.
func room1Next(seq int) int {
	if (seq-1)%201 == 100 {
		return seq + 2
	}
	return seq + 1
}

func TestMergerFullBatchLeavesEarly(t *testing.T) {
	c := newClockMerger(t, 100*time.Millisecond, 10, 1)
	c.msg(1) // quiet: at once
	for range 25 {
		c.advance(c.now.Add(time.Millisecond))
		c.msg(1)
	}
	// 25 more within the window: two full batches of 10 at once, 5 wait.
	require.Len(t, c.sends, 3)
	require.Equal(t, reasonFull, c.sends[1].b.reason)
	require.Equal(t, reasonFull, c.sends[2].b.reason)
	require.Len(t, c.sends[2].b.msgs, 10)
	lastFull := c.sends[2].at
	// The full batch opened a new window: the stale closing of the first one sends nothing.
	c.advance(c.sends[0].at.Add(100 * time.Millisecond))
	require.Len(t, c.sends, 3)
	c.advance(lastFull.Add(100 * time.Millisecond))
	require.Len(t, c.sends, 4)
	require.Equal(t, reasonWindow, c.sends[3].b.reason)
	require.Len(t, c.sends[3].b.msgs, 5)
}

func TestMergerClosedWindowSendsWithoutFlusher(t *testing.T) {
	m := newMerger(50*time.Millisecond, 100, 1)
	t0 := time.Unix(1000, 0)
	require.NotNil(t, m.add(t0, 1, [][]byte{[]byte("a")}, nil, t0))
	require.Nil(t, m.add(t0.Add(10*time.Millisecond), 1, [][]byte{[]byte("b")}, nil, t0))
	// The window has closed but the flusher has not run yet: the next message does not wait
	// for it, and takes "b" with it, in order.
	b := m.add(t0.Add(60*time.Millisecond), 1, [][]byte{[]byte("c")}, nil, t0)
	require.NotNil(t, b)
	require.Equal(t, reasonWindow, b.reason)
	require.Equal(t, [][]byte{[]byte("b"), []byte("c")}, b.msgs)
	out, next := m.expire(t0.Add(61 * time.Millisecond))
	require.Empty(t, out, "the stale closing sends nothing")
	require.Equal(t, t0.Add(110*time.Millisecond), next)

	// Quiet after an empty window the flusher has not seen: at once, as quiet.
	b = m.add(t0.Add(200*time.Millisecond), 1, [][]byte{[]byte("d")}, nil, t0)
	require.NotNil(t, b)
	require.Equal(t, reasonQuiet, b.reason)
}

func TestMergerDrain(t *testing.T) {
	m := newMerger(50*time.Millisecond, 100, 1)
	t0 := time.Unix(1000, 0)
	m.add(t0, 1, [][]byte{[]byte("a")}, nil, t0)
	m.add(t0, 1, [][]byte{[]byte("b")}, nil, t0)
	m.add(t0, 2, [][]byte{[]byte("c")}, nil, t0)
	out := m.drain()
	require.Len(t, out, 1, "only what waits")
	require.Equal(t, reasonStop, out[0].reason)
	require.Equal(t, [][]byte{[]byte("b")}, out[0].msgs)
	require.True(t, m.idle())
	require.Empty(t, m.rooms)
}

func TestMergerQueueStaysSmall(t *testing.T) {
	c := newClockMerger(t, 10*time.Millisecond, 2, 1)
	for i := range 100_000 {
		c.advance(c.now.Add(time.Millisecond))
		c.msg(int64(i % 3))
	}
	require.Less(t, cap(c.m.queue), 4096, "the close queue does not keep every send")
}

func TestMergerSpareBatches(t *testing.T) {
	const window = 50 * time.Millisecond
	c := newClockMerger(t, window, 1000, 2)
	c.msg(1) // quiet: at once
	c.advance(c.now.Add(10 * time.Millisecond))
	c.msg(1) // inside the window, nothing waiting, one spare: at once
	require.Len(t, c.sends, 2)
	require.Equal(t, reasonSpare, c.sends[1].b.reason)
	require.Equal(t, c.now, c.sends[1].at)
	spareAt := c.now

	c.advance(c.now.Add(10 * time.Millisecond))
	c.msg(1) // no spare left: waits for the window the spare opened
	require.Len(t, c.sends, 2)
	c.advance(spareAt.Add(window))
	require.Len(t, c.sends, 3)
	require.Equal(t, reasonWindow, c.sends[2].b.reason)

	// That window closes empty: the room is quiet again, with its spare back.
	c.advance(c.now.Add(2 * window))
	c.msg(1)
	c.advance(c.now.Add(5 * time.Millisecond))
	c.msg(1)
	require.Len(t, c.sends, 5)
	require.Equal(t, reasonQuiet, c.sends[3].b.reason)
	require.Equal(t, reasonSpare, c.sends[4].b.reason)

	// A window closed without the flusher seeing it gives the spare back as well.
	m := newMerger(window, 100, 2)
	t0 := time.Unix(1000, 0)
	require.Equal(t, reasonQuiet, m.add(t0, 1, [][]byte{[]byte("a")}, nil, t0).reason)
	require.Equal(t, reasonSpare, m.add(t0.Add(time.Millisecond), 1, [][]byte{[]byte("b")}, nil, t0).reason)
	require.Nil(t, m.add(t0.Add(2*time.Millisecond), 1, [][]byte{[]byte("c")}, nil, t0))
	require.Equal(t, reasonWindow, m.add(t0.Add(60*time.Millisecond), 1, [][]byte{[]byte("d")}, nil, t0).reason)
	require.Equal(t, reasonQuiet, m.add(t0.Add(200*time.Millisecond), 1, [][]byte{[]byte("e")}, nil, t0).reason)
	require.Equal(t, reasonSpare, m.add(t0.Add(201*time.Millisecond), 1, [][]byte{[]byte("f")}, nil, t0).reason)
}

func TestMergerBusyRoomSpendsItsSpareOnce(t *testing.T) {
	const window = 50 * time.Millisecond
	c := newClockMerger(t, window, 1000, 3)
	start := c.now
	for i := range 1000 { // 1,000 messages/s for 1 s
		c.advance(start.Add(time.Duration(i) * time.Millisecond))
		c.msg(1)
	}
	c.advance(start.Add(2 * time.Second))
	s := c.sendsOf(1)
	require.Equal(t, reasonQuiet, s[0].b.reason)
	require.Equal(t, reasonSpare, s[1].b.reason)
	require.Equal(t, reasonSpare, s[2].b.reason)
	for i := 3; i < len(s); i++ {
		require.Equal(t, reasonWindow, s[i].b.reason)
		require.Equal(t, window, s[i].at.Sub(s[i-1].at), "one batch per window once the spares are spent")
	}
	require.Len(t, s, 3+20)
}
