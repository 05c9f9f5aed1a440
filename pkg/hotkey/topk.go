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

// topK is a min-heap of the K keys with the largest estimates, indexed by hash. Merges read the
// admission threshold without the lock and take the lock only when they have candidates.
type topK struct {
	mu       sync.Mutex
	k        int
	minCount uint64
	heap     []entry
	index    map[uint64]int32
	keyBytes int

	// thr is the smallest estimate worth offering: MinCount while the heap has room, else the
	// heap minimum (an equal estimate still refreshes a member's count but replaces nobody).
	thr atomic.Uint64
}

func newTopK(k int, minCount uint64) *topK {
	t := &topK{k: k, minCount: minCount, heap: make([]entry, 0, k), index: make(map[uint64]int32, k)}
	t.thr.Store(minCount)
	return t
}

// offer merges candidates; eligible filters keys that are not yet members.
func (t *topK) offer(cands []candidate, eligible func(string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cands {
		if c.est < t.minCount {
			continue
		}
		if i, ok := t.index[c.h]; ok {
			if e := &t.heap[i]; c.est > e.count && e.key == c.key {
				e.count = c.est
				t.down(int(i))
			}
			continue
		}
		full := len(t.heap) == t.k
		if full && c.est <= t.heap[0].count || !eligible(c.key) {
			continue
		}
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
	t.storeThr()
}

func (t *topK) storeThr() {
	if len(t.heap) < t.k {
		t.thr.Store(t.minCount)
	} else {
		t.thr.Store(max(t.minCount, t.heap[0].count))
	}
}

// halve ages every count with the sketch and drops members that fell below MinCount, so a key
// that cooled off leaves even when no other key competes for its place.
func (t *topK) halve() {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.heap[:0]
	for _, e := range t.heap {
		e.count >>= 1
		if e.count >= t.minCount {
			kept = append(kept, e)
			continue
		}
		t.keyBytes -= len(e.key)
	}
	clear(t.heap[len(kept):])
	t.heap = kept
	clear(t.index)
	for i := range t.heap {
		t.index[t.heap[i].h] = int32(i)
	}
	for i := len(t.heap)/2 - 1; i >= 0; i-- {
		t.down(i)
	}
	t.storeThr()
}

// items returns the members by count, largest first (ties by key, for stable output).
func (t *topK) items() []Item {
	t.mu.Lock()
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
