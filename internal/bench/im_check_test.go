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
	c := newIMCheck(3)
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
		c.received(0, seq)
	}
	// Pair 1: 1..100 acknowledged and received in order (across bitset words); 101 received
	// though its send was never acknowledged; the echo of 7 is missing, of 8 doubled.
	for seq := int64(1); seq <= 100; seq++ {
		c.acked(1, seq)
		c.received(1, seq)
		if seq != 7 {
			c.echoed(1, seq)
		}
	}
	c.echoed(1, 8)
	c.received(1, 101)
	c.echoed(1, 101)
	require.False(t, c.settled())

	got := c.result()
	require.Equal(t, IMCheck{
		Pairs: 3, Acked: 105, Received: 104 + 1, Lost: 1, Duplicated: 1, Reordered: 1, Unconfirmed: 1,
		Echoes: 105 - 1 + 1, EchoLost: 1, EchoDuplicated: 1, EchoUnconfirmed: 1,
	}, got)
	require.False(t, got.OK())

	// Once the missing ones arrive, nothing is lost and the drain may end.
	c.received(0, 3)
	c.echoed(1, 7)
	require.True(t, c.settled())
	got = c.result()
	require.Zero(t, got.Lost)
	require.Zero(t, got.EchoLost)
	require.Equal(t, int64(2), got.Reordered, "3 came after 5")
	require.False(t, got.OK(), "the duplicates remain")

	clean := newIMCheck(1)
	clean.acked(0, 1)
	clean.received(0, 1)
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
