package bench

import (
	"math/bits"
	"sync"
)

// imCheck is what the receivers of `zhibo bench im` check, per conversation direction (a
// pair: one sender, one receiver): which sequence numbers the platform acknowledged, which
// the receiver's channel got (how many twice, how many after a larger one), and which the
// sender's own channel got back as its echo. Senders and channel readers record into it
// concurrently; result adds it up once they have stopped.
type imCheck struct {
	pairs []imPairCheck
}

type imPairCheck struct {
	mu       sync.Mutex
	acked    seqCheck
	received seqCheck
	echoed   seqCheck
}

func newIMCheck(pairs int) *imCheck { return &imCheck{pairs: make([]imPairCheck, pairs)} }

// valid says a stamp names a pair of this run.
func (c *imCheck) valid(pair int, seq int64) bool {
	return pair >= 0 && pair < len(c.pairs) && seq > 0
}

// acked records that the platform acknowledged the send of seq on pair.
func (c *imCheck) acked(pair int, seq int64) {
	p := &c.pairs[pair]
	p.mu.Lock()
	p.acked.add(seq)
	p.mu.Unlock()
}

// received records that the receiver's channel got seq of pair.
func (c *imCheck) received(pair int, seq int64) {
	p := &c.pairs[pair]
	p.mu.Lock()
	p.received.add(seq)
	p.mu.Unlock()
}

// echoed records that the sender's own channel got seq of pair.
func (c *imCheck) echoed(pair int, seq int64) {
	p := &c.pairs[pair]
	p.mu.Lock()
	p.echoed.add(seq)
	p.mu.Unlock()
}

// IMCheck is the receivers' verdict over every pair.
type IMCheck struct {
	Pairs int `json:"pairs"`
	// Acked is the messages the platform acknowledged; every one must reach its receiver
	// exactly once.
	Acked int64 `json:"acked"`
	// Received is the distinct messages the receivers got (acknowledged or not).
	Received int64 `json:"received"`
	// Lost is acknowledged messages the receiver never got (within the drain period).
	Lost int64 `json:"lost"`
	// Duplicated is extra copies: a message received twice counts 1.
	Duplicated int64 `json:"duplicated"`
	// Reordered is messages received after a later message of the same pair (each pair's
	// messages are sent one after the other, the next only once the previous is
	// acknowledged, so their order is defined).
	Reordered int64 `json:"reordered"`
	// Unconfirmed is messages received whose send was never acknowledged (it failed or
	// timed out on the sender's side, yet the platform had taken it).
	Unconfirmed int64 `json:"unconfirmed"`
	// The sender's own channel: each acknowledged message should come back exactly once.
	Echoes          int64 `json:"echoes"` // distinct
	EchoLost        int64 `json:"echo_lost"`
	EchoDuplicated  int64 `json:"echo_duplicated"`
	EchoUnconfirmed int64 `json:"echo_unconfirmed"`
}

// OK says every acknowledged message reached its receiver and its sender's channel exactly
// once.
func (c IMCheck) OK() bool {
	return c.Lost == 0 && c.Duplicated == 0 && c.EchoLost == 0 && c.EchoDuplicated == 0
}

// result adds up every pair.
func (c *imCheck) result() IMCheck {
	out := IMCheck{Pairs: len(c.pairs)}
	for i := range c.pairs {
		p := &c.pairs[i]
		p.mu.Lock()
		out.Acked += p.acked.distinct
		out.Received += p.received.distinct
		out.Duplicated += p.received.dups
		out.Reordered += p.received.outOfOrder
		out.Echoes += p.echoed.distinct
		out.EchoDuplicated += p.echoed.dups
		out.Lost += missing(&p.acked, &p.received)
		out.Unconfirmed += missing(&p.received, &p.acked)
		out.EchoLost += missing(&p.acked, &p.echoed)
		out.EchoUnconfirmed += missing(&p.echoed, &p.acked)
		p.mu.Unlock()
	}
	return out
}

// missing counts the sequence numbers in want that got lacks.
func missing(want, got *seqCheck) int64 {
	var n int
	for w, bitsWant := range want.seen {
		var have uint64
		if w < len(got.seen) {
			have = got.seen[w]
		}
		n += bits.OnesCount64(bitsWant &^ have)
	}
	return int64(n)
}

// settled says every acknowledged message has reached both channels at least once, so the
// drain can end early.
func (c *imCheck) settled() bool {
	for i := range c.pairs {
		p := &c.pairs[i]
		p.mu.Lock()
		done := missing(&p.acked, &p.received) == 0 && missing(&p.acked, &p.echoed) == 0
		p.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}
