package hotkey

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Item is a hot key and its estimated count (decayed by the window when one is configured).
type Item struct {
	Key   string
	Count uint64
}

type entry struct {
	key   string
	h     uint64
	count uint64
}

// candidate is a key whose sketch estimate reached the admission threshold during a merge.
type candidate struct {
	key string
	h   uint64
	est uint64
}

// topK is a min-heap of the K keys with the largest estimates, indexed by hash.
//
// Members' counts are refreshed lazily: merges skip keys found in the lock-free member set, so
// the lock is taken only when a non-member's estimate reaches the threshold. A stored count is
// therefore a lower bound; before a member is evicted, before aging and when TopK is read, it is
// brought up to the sketch's current estimate (never lowered: like HeavyKeeper's heap, a
// member keeps the largest estimate it was seen with).
type topK struct {
	mu       sync.Mutex
	k        int
	minCount uint64
	heap     []entry
	index    map[uint64]int32
	keyBytes int
	fresh    func(h uint64) uint64 // the sketch's current estimate for a hash

	// thr is the smallest estimate worth offering: MinCount while the heap has room, else one
	// more than the stored heap minimum (offer turns down ties). thr and members are read by
	// every merge on every core, so they sit on their own cache line, away from mu and the heap
	// that offers write.
	_       [cacheLine]byte
	thr     atomic.Uint64
	members atomic.Pointer[memberSet]
	_       [cacheLine]byte
}

func newTopK(k int, minCount uint64, fresh func(uint64) uint64) *topK {
	t := &topK{k: k, minCount: minCount, heap: make([]entry, 0, k), index: make(map[uint64]int32, k), fresh: fresh}
	t.thr.Store(minCount)
	t.publish()
	return t
}

// memberSet is an immutable open-addressing set of member hashes (0 marks an empty slot; a key
// hashing to 0 is simply never found and takes the locked path).
type memberSet struct {
	mask  uint64
	slots []uint64
}

func (m *memberSet) has(h uint64) bool {
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		switch m.slots[i] {
		case h:
			return h != 0
		case 0:
			return false
		}
	}
}

// publish rebuilds the member set; the caller holds t.mu (or owns t).
func (t *topK) publish() {
	n := uint64(4)
	for n < uint64(2*t.k) {
		n <<= 1
	}
	m := &memberSet{mask: n - 1, slots: make([]uint64, n)}
	for _, e := range t.heap {
		for i := e.h & m.mask; ; i = (i + 1) & m.mask {
			if m.slots[i] == 0 {
				m.slots[i] = e.h
				break
			}
		}
	}
	t.members.Store(m)
}

// isMember reports, without locking, whether h was a member at the last membership change.
func (t *topK) isMember(h uint64) bool { return t.members.Load().has(h) }

// refresh raises member i's count to the sketch's estimate and restores heap order.
func (t *topK) refresh(i int) bool {
	f := t.fresh(t.heap[i].h)
	if f <= t.heap[i].count {
		return false
	}
	t.heap[i].count = f
	t.down(i)
	return true
}

// offer admits candidates (non-members whose estimate reached the threshold); eligible filters
// them by Allow/Deny. With wait false it gives up, returning false, when another goroutine holds
// the heap: the caller keeps its candidates for its next merge rather than parking, since on few
// cores a parked goroutine idles its core until the scheduler wakes it, which costs more than the
// offer itself.
func (t *topK) offer(cands []candidate, eligible func(string) bool, wait bool) bool {
	if wait {
		t.mu.Lock()
	} else if !t.mu.TryLock() {
		return false
	}
	defer t.mu.Unlock()
	changed := false
	for _, c := range cands {
		if c.est < t.minCount {
			continue
		}
		if i, ok := t.index[c.h]; ok { // joined since the merge read the member set
			if e := &t.heap[i]; c.est > e.count && e.key == c.key {
				e.count = c.est
				t.down(int(i))
			}
			continue
		}
		full := len(t.heap) == t.k
		for full && c.est > t.heap[0].count && t.refresh(0) {
		}
		if full && c.est <= t.heap[0].count || !eligible(c.key) {
			continue
		}
		changed = true
		e := entry{key: strings.Clone(c.key), h: c.h, count: c.est}
		t.keyBytes += len(e.key)
		if !full {
			t.heap = append(t.heap, e)
			t.index[e.h] = int32(len(t.heap) - 1)
			t.up(len(t.heap) - 1)
			continue
		}
		old := t.heap[0]
		delete(t.index, old.h)
		t.keyBytes -= len(old.key)
		t.heap[0] = e
		t.index[e.h] = 0
		t.down(0)
	}
	if changed {
		t.publish()
	}
	t.storeThr()
	return true
}

func (t *topK) storeThr() {
	thr := t.minCount
	if len(t.heap) == t.k {
		thr = max(thr, t.heap[0].count+1) // a full heap admits only counts above its minimum
	}
	if t.thr.Load() != thr { // avoid dirtying a cache line every merge reads
		t.thr.Store(thr)
	}
}

// refreshAll brings every member's count up to the sketch. The caller holds t.mu.
func (t *topK) refreshAll() {
	for i := range t.heap {
		t.heap[i].count = max(t.heap[i].count, t.fresh(t.heap[i].h))
	}
	t.heapify()
}

func (t *topK) heapify() {
	clear(t.index)
	for i := range t.heap {
		t.index[t.heap[i].h] = int32(i)
	}
	for i := len(t.heap)/2 - 1; i >= 0; i-- {
		t.down(i)
	}
}

// halve ages every count with the sketch (already halved, so refreshing first brings stale
// counts to their aged value) and drops members below MinCount, so a key that cooled off leaves
// even when no other key competes for its place.
func (t *topK) halve() {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.heap[:0]
	for _, e := range t.heap {
		e.count = max(e.count>>1, t.fresh(e.h))
		if e.count >= t.minCount {
			kept = append(kept, e)
			continue
		}
		t.keyBytes -= len(e.key)
	}
	changed := len(kept) != len(t.heap)
	clear(t.heap[len(kept):])
	t.heap = kept
	t.heapify()
	if changed {
		t.publish()
	}
	t.storeThr()
}

// items returns the members by count, largest first (ties by key, for stable output). With
// fresh set, counts are first brought up to the sketch's.
func (t *topK) items(fresh bool) []Item {
	t.mu.Lock()
	if fresh {
		t.refreshAll()
	}
	out := make([]Item, len(t.heap))
	for i, e := range t.heap {
		out[i] = Item{Key: e.key, Count: e.count}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Item) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// bytes estimates the heap's memory: entries, index (about 24 bytes per slot) and key bytes.
func (t *topK) bytes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return cap(t.heap)*int(entrySize) + t.k*24 + t.keyBytes
}

const entrySize = 16 + 8 + 8

func (t *topK) less(i, j int) bool { return t.heap[i].count < t.heap[j].count }

func (t *topK) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.index[t.heap[i].h] = int32(i)
	t.index[t.heap[j].h] = int32(j)
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.less(r, l) {
			m = r
		}
		if !t.less(m, i) {
			return
		}
		t.swap(i, m)
		i = m
	}
}
