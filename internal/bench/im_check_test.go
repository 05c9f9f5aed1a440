package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The receivers' accounting: a message acknowledged but never received is lost, a second
// copy is a duplicate, one arriving after a later one of its pair is reordered, and one
// received without an acknowledgement is unconfirmed, not lost; the sender's echoes are
// counted the same way on their own.
func TestIMCheckAccounting(t *testing.T) {
	c := newIMCheck([]int{1, 1, 1})
	require.True(t, c.valid(2, 1))
	require.False(t, c.valid(3, 1))
	require.False(t, c.valid(-1, 1))
	require.False(t, c.valid(0, 0))

	// Pair 0: 1..5 acknowledged; 3 never arrives, 2 arrives twice, 5 before 4.
	for seq := int64(1); seq <= 5; seq++ {
		c.acked(0, seq)
		c.echoed(0, seq)
	}
	for _, seq := range []int64{1, 2, 2, 5, 4} {
		c.received(0, 0, seq)
	}
	// Pair 1: 1..100 acknowledged and received in order (across bitset words); 101 received
	// though its send was never acknowledged; the echo of 7 is missing, of 8 doubled.
	for seq := int64(1); seq <= 100; seq++ {
		c.acked(1, seq)
		c.received(1, 0, seq)
		if seq != 7 {
			c.echoed(1, seq)
		}
	}
	c.echoed(1, 8)
	c.received(1, 0, 101)
	c.echoed(1, 101)
	require.False(t, c.settled())

	got := c.result()
	require.Equal(t, IMCheck{
		Pairs: 3, Acked: 105, Deliveries: 105, Received: 104 + 1, Lost: 1, Duplicated: 1, Reordered: 1, Unconfirmed: 1,
		Echoes: 105 - 1 + 1, EchoLost: 1, EchoDuplicated: 1, EchoUnconfirmed: 1,
	}, got)
	require.False(t, got.OK())

	// Once the missing ones arrive, nothing is lost and the drain may end.
	c.received(0, 0, 3)
	c.echoed(1, 7)
	require.True(t, c.settled())
	got = c.result()
	require.Zero(t, got.Lost)
	require.Zero(t, got.EchoLost)
	require.Equal(t, int64(2), got.Reordered, "3 came after 5")
	require.False(t, got.OK(), "the duplicates remain")

	clean := newIMCheck([]int{1})
	clean.acked(0, 1)
	clean.received(0, 0, 1)
	clean.echoed(0, 1)
	require.True(t, clean.result().OK())
	require.True(t, clean.settled())
}

// Pairs and stamps: users write to their partner (0↔1, 2↔3, an odd last one to 0), and a
// message text carries its pair, sequence and due time through parseStamp.
func TestIMPartnersAndStamp(t *testing.T) {
	r := &imRun{users: make([]imUser, 5)}
	require.Equal(t, []int{1, 0, 3, 2, 0}, []int{r.partner(0), r.partner(1), r.partner(2), r.partner(3), r.partner(4)})
	text := appendText(nil, stamp{sender: 7, seq: 42, sentNS: 1_700_000_000_123_456_789}, imTextSize)
	require.Len(t, text, imTextSize)
	st, ok := parseStamp(text)
	require.True(t, ok)
	require.Equal(t, stamp{sender: 7, seq: 42, sentNS: 1_700_000_000_123_456_789}, st)
	_, ok = parseStamp([]byte("hello"))
	require.False(t, ok)
}

// A group stream counts a delivery per receiver: one member missing a message is one lost
// delivery, and the drain waits for every member.
func TestIMCheckGroups(t *testing.T) {
	c := newIMCheck([]int{4, 1})
	for seq := int64(1); seq <= 10; seq++ {
		c.acked(0, seq)
		c.echoed(0, seq)
		for slot := range 4 {
			if slot != 2 || seq != 7 {
				c.received(0, slot, seq)
			}
		}
	}
	require.False(t, c.settled())
	got := c.result()
	require.Equal(t, int64(10), got.Acked)
	require.Equal(t, int64(40), got.Deliveries)
	require.Equal(t, int64(39), got.Received)
	require.Equal(t, int64(1), got.Lost)
	c.received(0, 2, 7)
	require.True(t, c.settled())
	require.True(t, c.result().OK())
}

// With groups, the first users are in groups (each writes to its group, and its receivers
// are the other members, numbered in order), and the rest are paired among themselves.
func TestIMGroupLayout(t *testing.T) {
	r := &imRun{users: make([]imUser, 13), cfg: IMConfig{Users: 13, GroupShare: 0.8, GroupSize: 5}}
	r.grouped = r.cfg.groups() * r.cfg.GroupSize
	require.Equal(t, 10, r.grouped)
	require.Equal(t, []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1, 1, 1}, r.receivers())
	require.Equal(t, []int{0, 0, 1, -1}, []int{r.groupOf(0), r.groupOf(4), r.groupOf(5), r.groupOf(10)})
	require.Equal(t, []int{11, 10, 10}, []int{r.partner(10), r.partner(11), r.partner(12)})
	// Stream 2 (group 0): users 0, 1, 3, 4 are its receivers 0..3; 2 is the sender; 5 is
	// in another group.
	require.Equal(t, []int{0, 1, -1, 2, 3, -1}, []int{r.slot(2, 0), r.slot(2, 1), r.slot(2, 2), r.slot(2, 3), r.slot(2, 4), r.slot(2, 5)})
	require.Equal(t, 0, r.slot(12, 10))
	require.Equal(t, -1, r.slot(12, 11))
	// One leftover user writes to user 0.
	one := &imRun{users: make([]imUser, 6), grouped: 5}
	require.Equal(t, 0, one.partner(5))
}
