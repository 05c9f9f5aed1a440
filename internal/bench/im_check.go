package bench

import (
	"math/bits"
	"sync"
)

// imCheck is what the receivers of `zhibo bench im` check, per stream (one sender writing to
// one partner, or to a group): which sequence numbers the platform acknowledged, which each
// receiver's channel got (how many twice, how many after a larger one), and which the
// sender's own channel got back as its echo. Senders and channel readers record into it
// concurrently; result adds it up once they have stopped.
type imCheck struct {
	pairs []imPairCheck
}

type imPairCheck struct {
	mu       sync.Mutex
	acked    seqCheck
	received []seqCheck // one per receiver: the partner, or the group's other members
	echoed   seqCheck
}

// newIMCheck checks len(receivers) streams, stream p having receivers[p] receivers.
func newIMCheck(receivers []int) *imCheck {
	c := &imCheck{pairs: make([]imPairCheck, len(receivers))}
	for p, n := range receivers {
		c.pairs[p].received = make([]seqCheck, n)
	}
	return c
}

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

// received records that receiver slot of pair got seq on its channel.
func (c *imCheck) received(pair, slot int, seq int64) {
	p := &c.pairs[pair]
	p.mu.Lock()
	p.received[slot].add(seq)
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
	// Acked is the messages the platform acknowledged; every one must reach each of its
	// receivers exactly once.
	Acked int64 `json:"acked"`
	// Deliveries is what that makes: each acknowledged message times its receivers (one for
	// a partner, the other members for a group).
	Deliveries int64 `json:"deliveries"`
	// Received is the distinct deliveries the receivers got (acknowledged or not).
	Received int64 `json:"received"`
	// Lost is deliveries of acknowledged messages never received (within the drain period).
	Lost int64 `json:"lost"`
	// Duplicated is extra copies: a message received twice counts 1.
	Duplicated int64 `json:"duplicated"`
	// Reordered is deliveries received after a later message of the same stream (a stream's
	// messages are sent one after the other, the next only once the previous is
	// acknowledged, so their order is defined).
	Reordered int64 `json:"reordered"`
	// Unconfirmed is deliveries received whose send was never acknowledged (it failed or
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
		for k := range p.received {
			got := &p.received[k]
			out.Deliveries += p.acked.distinct
			out.Received += got.distinct
			out.Duplicated += got.dups
			out.Reordered += got.outOfOrder
			out.Lost += missing(&p.acked, got)
			out.Unconfirmed += missing(got, &p.acked)
		}
		out.Echoes += p.echoed.distinct
		out.EchoDuplicated += p.echoed.dups
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

// settled says every acknowledged message has reached every receiver and its sender's
// channel at least once, so the drain can end early.
func (c *imCheck) settled() bool {
	for i := range c.pairs {
		p := &c.pairs[i]
		p.mu.Lock()
		done := missing(&p.acked, &p.echoed) == 0
		for k := range p.received {
			done = done && missing(&p.acked, &p.received[k]) == 0
		}
		p.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}
