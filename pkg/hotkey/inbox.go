package hotkey

import (
	"sync"
	"sync/atomic"
)

// Shard ownership. When two cores apply keys to the same shard in turn, every bucket they touch
// moves between their caches, and on two cores that traffic cost more than the sketch updates
// themselves (and more still when the two virtual cores sit far apart on the host). So each shard
// has an owner: there are owners = min(GOMAXPROCS, numShards) owner slots, slot o standing for the
// shards j with j % owners == o, and a stripe (sync.Pool keeps one per P) holds at most one slot.
// A merge applies its slot's shards itself and copies its keys of the other shards into their
// inboxes — sequential writes of a few cache lines instead of scattered writes into buckets
// another core holds — and each owner applies its inboxes at its next merge.
//
// A stripe claims a slot that is free or whose holder has not merged for leaseEvents events, and
// keeps it while it merges. Which stripe a P uses can change (a goroutine that yields mid-merge
// may put its stripe back on another P), so slots are leased rather than fixed by stripe number:
// two Ps never stay on the same slot, leaving the other slot's shards to no one. A stripe without
// a slot hands every key over.
//
// Nothing waits for an owner: an inbox that is full (its owner is idle, or its slot is unheld) is
// applied by the merge that found it full, and the reporter's mergeAll applies every inbox each
// tick. With GOMAXPROCS = 1 there is one slot, owning every shard, and inboxes are unused.

// leaseEvents is how many events may pass without its holder merging before a slot is free.
const leaseEvents = 16 * stripeMaxEvents

// ownerSlot is one owner's claim.
type ownerSlot struct {
	holder atomic.Pointer[stripe]
	seen   atomic.Uint64 // d.events when the holder last merged
	_      [cacheLine]byte
}

// claim returns the slot s holds for this merge, renewing it, or claims a free or expired one;
// -1 means none (every key is handed over). The caller holds s.mu.
func (d *Detector) claim(s *stripe) int {
	now := d.events.Load()
	if o := s.slot; o >= 0 && d.slots[o].holder.Load() == s {
		d.slots[o].seen.Store(now)
		return o
	}
	s.slot = -1
	for o := range d.slots {
		sl := &d.slots[o]
		h := sl.holder.Load()
		if h != nil && int64(now-sl.seen.Load()) <= leaseEvents {
			continue
		}
		if sl.holder.CompareAndSwap(h, s) {
			sl.seen.Store(now)
			s.slot = o
			return o
		}
	}
	return -1
}

// inboxCap is the most keys an inbox holds; about four merges' worth of one other core.
const inboxCap = 2 * stripeMaxDistinct

// inbox is a shard's queue of keys handed over by stripes that do not own it. Its lock is held
// only to copy keys in or swap the slice out.
type inbox struct {
	mu    sync.Mutex
	n     atomic.Int32 // len(items), read without mu
	items []slot
	_     [cacheLine]byte
}

// owns reports whether a stripe holding slot (all: every shard) applies shard j's keys itself.
func (d *Detector) owns(slot int, all bool, j int) bool {
	return all || slot >= 0 && j%len(d.slots) == slot
}

// lock takes the inbox lock. It is held for a copy or a swap, so sync.Mutex's own short spin
// almost always gets it without parking.
func (in *inbox) lock() { in.mu.Lock() }

// put moves stripe s's keys of shard j into the inbox. It reports false, moving nothing, when they
// do not fit. The caller holds s.mu.
func (in *inbox) put(s *stripe, j int) bool {
	used := s.used[j][:s.nUsed[j]]
	in.lock()
	if len(in.items)+len(used) > inboxCap {
		in.mu.Unlock()
		return false
	}
	if in.items == nil {
		in.items = make([]slot, 0, inboxCap)
	}
	for _, i := range used {
		in.items = append(in.items, s.slots[i])
		s.slots[i] = slot{}
	}
	in.n.Store(int32(len(in.items)))
	in.mu.Unlock()
	s.nUsed[j] = 0
	return true
}

// take swaps the inbox's keys for spare (an empty slice the caller owns) and returns them. The
// caller holds the shard's lock, which makes it the only reader.
func (in *inbox) take(spare []slot) []slot {
	if spare == nil {
		spare = make([]slot, 0, inboxCap)
	}
	in.lock()
	items := in.items
	in.items = spare
	in.n.Store(0)
	in.mu.Unlock()
	return items
}
