package hotkey

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Shard ownership. When two cores apply keys to the same shard in turn, every bucket they touch
// moves between their caches, and on two cores that traffic cost more than the sketch updates
// themselves (and more still when the two virtual cores sit far apart on the host). So each shard
// has an owner: stripe i (i counted in creation order, and sync.Pool keeps a stripe with the P
// that used it) owns the shards j with j % owners == i % owners, owners = min(GOMAXPROCS,
// numShards). A merge applies the owned shards' keys itself and copies the others into the
// owning shard's inbox — sequential writes of a few cache lines instead of scattered writes into
// buckets another core holds — and the owner applies its inboxes at its next merge.
//
// Nothing waits for an owner: an inbox that is full (its owner is idle, or no stripe with that
// owner is in use) is applied by the merge that found it full, and the reporter's mergeAll applies
// every inbox each tick. With GOMAXPROCS = 1 every stripe owns every shard and inboxes are unused.

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

// owns reports whether stripe s applies shard j's keys itself.
func (d *Detector) owns(s *stripe, j int) bool {
	return s.owner < 0 || j%d.owners == s.owner
}

// lock takes the inbox lock without parking (see merge).
func (in *inbox) lock() {
	for !in.mu.TryLock() {
		runtime.Gosched()
	}
}

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
