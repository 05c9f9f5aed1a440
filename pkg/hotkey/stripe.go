package hotkey

import (
	"math/bits"
	"sync"
)

// A stripe is a small buffer that sums adds per key before they reach the sketch. Each P (as
// sync.Pool hands them out) tends to keep its own stripe, so Add touches only memory its core
// already owns; the shared sketch is locked once per shard per merge instead of once per add,
// and repeated keys — the hot ones, by definition — are merged with one sketch update.
const (
	stripeSlots       = 256  // open-addressing table, power of two
	stripeMaxDistinct = 192  // merge when three quarters of the table are used…
	stripeMaxEvents   = 4096 // …or after this many events
	slotSize          = 8 + 8 + 16
)

type slot struct {
	h   uint64
	n   uint64
	key string
}

type stripe struct {
	mu       sync.Mutex
	slot     int  // owner slot last claimed (inbox.go); -1 = none
	all      bool // applies every shard itself (the reporter's flush stripe)
	distinct int
	events   uint64
	nUsed    [numShards]uint8
	used     [numShards][stripeMaxDistinct]uint8 // slots in use, by sketch shard
	slots    [stripeSlots]slot
	cands    []candidate
	sink     uint64 // keeps touch's loads from being optimised away
	_        [cacheLine]byte
}

// add buffers n occurrences and reports whether the stripe should be merged now. The caller holds
// s.mu.
func (s *stripe) add(h uint64, key string, n uint32) bool {
	i := uint8(h) & (stripeSlots - 1)
	for {
		sl := &s.slots[i]
		if sl.n == 0 {
			sl.h, sl.n, sl.key = h, uint64(n), key
			j := shardOf(h)
			s.used[j][s.nUsed[j]] = i
			s.nUsed[j]++
			s.distinct++
			break
		}
		if sl.h == h {
			sl.n += uint64(n)
			break
		}
		i = (i + 1) & (stripeSlots - 1)
	}
	s.events += uint64(n)
	return s.distinct == stripeMaxDistinct || s.events >= stripeMaxEvents
}

// newStripe is sync.Pool's constructor. Stripes are also kept in d.stripes so the reporter can
// merge those sitting idle; the pool may drop its reference at any GC, so past a bound a pool miss
// reuses a registered stripe instead of growing the list (two Ps sharing a stripe is only slower:
// its mutex keeps it correct).
func (d *Detector) newStripe() any {
	d.stripesMu.Lock()
	defer d.stripesMu.Unlock()
	if len(d.stripes) < d.maxStripes {
		s := &stripe{slot: -1}
		d.stripes = append(d.stripes, s)
		return s
	}
	s := d.stripes[d.nextStripe%len(d.stripes)]
	d.nextStripe++
	return s
}

// merge moves a stripe's buffered counts into the sketch, offers the keys whose estimate reached
// the top-K threshold, and ages the window when enough events have passed. The caller holds s.mu.
//
// Each shard has an owner (see inbox.go): keys of shards this stripe's slot does not own are
// handed to the shard's inbox, and the stripe applies only its own shards — together with what
// the other cores handed to them — so the cache lines of a shard stay with one core. An inbox
// that is full (its owner is not adding) is applied by whoever finds it full.
//
// A merge does not park on a lock another core holds. Shards are independent, so the order they
// are visited in does not matter: free ones are taken first, and while every shard left is busy
// the merge spins (a shard is held for a few microseconds; parking and being woken costs more),
// blocking only after maxSpins rounds. Candidates the heap is too busy to take wait in the
// stripe for its next merge, up to maxPendingCands; with wait set (TopK, Stop) the merge blocks
// instead.
func (d *Detector) merge(s *stripe, wait bool) {
	thr := max(d.top.thr.Load(), 1)
	slot := -1
	if !s.all {
		slot = d.claim(s)
	}
	pending := 0
	for j := range numShards {
		sh := &d.sk.shards[j]
		if !d.owns(slot, s.all, j) {
			if s.nUsed[j] > 0 && !sh.in.put(s, j) {
				pending |= 1 << j // inbox full: apply it and this stripe's keys here
			}
			continue
		}
		if s.nUsed[j] == 0 && sh.in.n.Load() == 0 {
			continue
		}
		if sh.mu.TryLock() {
			d.mergeShard(s, sh, thr)
			sh.mu.Unlock()
			continue
		}
		// The shard is busy (the reporter, or a stripe applying a full inbox): rather than wait,
		// leave this stripe's keys in the inbox for the next merge that holds it.
		if !wait && (s.nUsed[j] == 0 || sh.in.put(s, j)) {
			continue
		}
		pending |= 1 << j
	}
	for spins := 0; pending != 0; spins++ {
		took := false
		for j := range numShards {
			if pending&(1<<j) == 0 {
				continue
			}
			sh := &d.sk.shards[j]
			switch {
			case !wait && sh.in.put(s, j): // room again: its holder took the inbox
			case sh.mu.TryLock():
				d.mergeShard(s, sh, thr)
				sh.mu.Unlock()
			default:
				continue
			}
			pending &^= 1 << j
			took = true
		}
		if pending != 0 && !took && spins >= maxSpins {
			// Still busy after a long spin: its holder was probably descheduled. Wait.
			j := bits.TrailingZeros(uint(pending))
			sh := &d.sk.shards[j]
			sh.mu.Lock()
			d.mergeShard(s, sh, thr)
			sh.mu.Unlock()
			pending &^= 1 << j
		}
	}
	events := s.events
	s.distinct, s.events = 0, 0
	if len(s.cands) > 0 && d.top.offer(s.cands, d.eligible, wait || len(s.cands) >= maxPendingCands) {
		clear(s.cands)
		s.cands = s.cands[:0]
	}
	if events == 0 {
		return
	}
	if total := d.events.Add(events); d.stepEvents > 0 && total >= d.nextAge.Load() {
		d.age(false)
	}
}

// maxSpins is how many rounds a merge retries busy shards before it blocks on one. It spins
// rather than yields: a yielding goroutine may resume on another P and put its stripe back there,
// which moves the stripe — and the shards it owns — to the other core.
const maxSpins = 4096

// maxPendingCands bounds the candidates a stripe keeps while the heap is busy; past it the merge
// waits for the heap.
const maxPendingCands = 2 * stripeMaxDistinct

// mergeShard applies what other cores handed to shard sh, then the stripe's own keys of it (in
// that order: the handed-off keys were added first). The caller holds s.mu and sh.mu.
func (d *Detector) mergeShard(s *stripe, sh *shard, thr uint64) {
	cur := uint8(d.sk.epoch.Load())
	if sh.in.n.Load() > 0 {
		items := sh.in.take(sh.spare)
		for k := range items {
			d.apply(s, sh, &items[k], cur, thr)
		}
		clear(items)
		sh.spare = items[:0]
	}
	j := shardOf(sh.id)
	used := s.used[j][:s.nUsed[j]]
	d.sk.touch(sh, s, used)
	for _, i := range used {
		sl := &s.slots[i]
		d.apply(s, sh, sl, cur, thr)
		*sl = slot{}
	}
	s.nUsed[j] = 0
}

// apply adds one buffered key to shard sh at epoch cur and records it as a heap candidate of s
// when its estimate reached thr. The caller holds sh.mu.
func (d *Detector) apply(s *stripe, sh *shard, sl *slot, cur uint8, thr uint64) {
	n := sl.n
	var est uint64
	for n > 0 { // counts past 32 bits arrive in several steps
		step := uint32(min(n, 1<<31))
		est = sh.add(d.sk, sl.h, step, cur)
		n -= uint64(step)
	}
	if d.testApply != nil {
		d.testApply(sl.key, sl.n)
	}
	if est >= thr && !d.top.isMember(sl.h) {
		s.cands = append(s.cands, candidate{key: sl.key, h: sl.h, est: est})
	}
}

// mergeAll merges every registered stripe, then every inbox (through d.flush, which owns every
// shard). With wait false, stripes busy in another goroutine are skipped (they merge on their own
// when full, or on the next tick).
func (d *Detector) mergeAll(wait bool) {
	d.stripesMu.Lock()
	list := append(append([]*stripe(nil), d.stripes...), d.flush)
	d.stripesMu.Unlock()
	for _, s := range list {
		if wait {
			s.mu.Lock()
		} else if !s.mu.TryLock() {
			continue
		}
		d.merge(s, wait)
		s.mu.Unlock()
	}
}
