package hotkey

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
)

// shardBits splits the sketch into 1<<shardBits independent HeavyKeepers chosen by the top bits
// of a key's hash. Each key lives in exactly one shard, so the split costs no accuracy (each shard
// sees 1/4 of the keys in 1/4 of the buckets), and two goroutines merging buffers at the same time
// lock different shards most of the time.
const (
	shardBits = 2
	numShards = 1 << shardBits
	cacheLine = 64
)

// sketch is the HeavyKeeper count table: depth rows of width buckets per shard. A bucket packs a
// 24-bit fingerprint, an 8-bit epoch and a 32-bit count in one word, so a row lookup is one load
// and one store. Buckets change only under their shard's lock, with atomic stores, so estimate
// reads them without the lock.
//
// Aging is lazy: a window step only advances the sketch's epoch, and a bucket's count is halved
// once per epoch it is behind when it is next read (c >> lag gives exactly what halving it lag
// times, rounding down each time, would). A step therefore writes no bucket — it used to rewrite
// the whole table, which on several cores also took every cache line away from the others — and
// a sweep every normalizeEvery epochs brings idle buckets forward before the 8-bit epoch wraps.
type sketch struct {
	shards [numShards]shard
	depth  int
	width  int      // buckets per row per shard
	decay  []uint32 // decay[c] = b^-c scaled to 2^32; empty past the point where it rounds to 0
	epoch  atomic.Uint32
}

// Bucket layout.
const (
	fpBits         = 24
	fpMask         = 1<<fpBits - 1
	epochShift     = 32
	fpShift        = 40
	normalizeEvery = 32 // epochs between sweeps; far below the 256 an 8-bit epoch tells apart
)

type shard struct {
	mu      sync.Mutex
	rng     uint64
	buckets []uint64 // row r occupies [r*width, (r+1)*width)
	id      uint64   // a hash whose top bits select this shard (shardOf(id) is its index)
	spare   []slot   // the inbox's other buffer, swapped in by take (guarded by mu)
	_       [cacheLine]byte
	in      inbox
}

// unpack returns a bucket's fingerprint and its count aged to epoch cur. A bucket stamped after
// cur (a lock-free reader that loaded the epoch just before a step) is read as it is: lags are
// never near 128, so a larger difference means "ahead", not "wrapped".
func unpack(b uint64, cur uint8) (fp, c uint32) {
	c = uint32(b)
	if lag := cur - uint8(b>>epochShift); c != 0 && lag < 128 {
		c >>= lag
	}
	return uint32(b >> fpShift), c
}

func pack(fp, c uint32, cur uint8) uint64 {
	if c == 0 {
		return 0
	}
	return uint64(fp)<<fpShift | uint64(cur)<<epochShift | uint64(c)
}

func newSketch(width, depth int, b float64, seed uint64) *sketch {
	per := (width + numShards - 1) / numShards
	s := &sketch{depth: depth, width: per}
	for c := 0; ; c++ {
		p := math.Pow(b, -float64(c)) * (1 << 32)
		if p < 1 {
			break
		}
		s.decay = append(s.decay, uint32(min(p, math.MaxUint32)))
	}
	for i := range s.shards {
		s.shards[i].buckets = make([]uint64, per*depth)
		s.shards[i].rng = seed ^ uint64(i+1)*0x9E3779B97F4A7C15
		s.shards[i].id = uint64(i) << (64 - shardBits)
	}
	return s
}

func shardOf(h uint64) int { return int(h >> (64 - shardBits)) }

// rowIndex maps a hash to a bucket of row r with a per-row multiply-shift, so rows are
// independent functions of one 64-bit hash.
func rowIndex(h uint64, r, width int) int {
	x := (h ^ rowSalt[r]) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	return int(((x >> 32) * uint64(width)) >> 32)
}

var rowSalt = [8]uint64{
	0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89,
	0x452821E638D01377, 0xBE5466CF34E90C6C, 0xC0AC29B7C97C50DD, 0x3F84D5B5B5470917,
}

// next is wyrand: a fast, well-mixed generator whose state lives in the shard (guarded by mu), so
// the random decay is deterministic for a given seed and needs no global state.
func (s *shard) next() uint32 {
	s.rng += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(s.rng, s.rng^0xe7037ed1a0b428db)
	return uint32(hi ^ lo)
}

// add counts n occurrences of the key with hash h and returns its estimated count: the largest
// count among the rows whose bucket it holds, 0 if it holds none. The caller holds s.mu and read
// the epoch cur after taking it, so epochs of one shard's writes never go backwards.
//
// Per row (HeavyKeeper): an empty bucket is claimed; a bucket with the key's fingerprint grows by
// n; a bucket held by another key is decremented with probability b^-count once per occurrence,
// and an occurrence that brings it to zero claims it with the occurrences left. Large counts
// (past the decay table) never decay, which is what keeps an elephant's count exact.
func (s *shard) add(sk *sketch, h uint64, n uint32, cur uint8) uint64 {
	fp := uint32(h) & fpMask
	var est uint32
	for r := 0; r < sk.depth; r++ {
		i := r*sk.width + rowIndex(h, r, sk.width)
		f, c := unpack(s.buckets[i], cur)
		switch {
		case c == 0:
			c, f = n, fp
		case f == fp:
			if c += n; c < n {
				c = math.MaxUint32
			}
		default:
			for left := n; left > 0 && int(c) < len(sk.decay); left-- {
				if s.next() < sk.decay[c] {
					if c--; c == 0 {
						c, f = left, fp
						break
					}
				}
			}
		}
		atomic.StoreUint64(&s.buckets[i], pack(f, c, cur))
		if f == fp && c > est {
			est = c
		}
	}
	return uint64(est)
}

// touch loads every bucket the given stripe slots will update, so the cache misses — on several
// cores, mostly lines another core wrote last — overlap instead of each stalling the dependent
// update that follows it.
func (sk *sketch) touch(sh *shard, s *stripe, used []uint8) {
	sum := s.sink
	for _, i := range used {
		h := s.slots[i].h
		for r := 0; r < sk.depth; r++ {
			sum += atomic.LoadUint64(&sh.buckets[r*sk.width+rowIndex(h, r, sk.width)])
		}
	}
	s.sink = sum
}

// estimate is the key's current count (0 if it holds no bucket). It takes no lock: each bucket is
// read atomically, so the heap never waits for a merge to learn a member's count.
func (sk *sketch) estimate(h uint64) uint64 {
	s := &sk.shards[shardOf(h)]
	fp := uint32(h) & fpMask
	cur := uint8(sk.epoch.Load())
	var est uint32
	for r := 0; r < sk.depth; r++ {
		f, c := unpack(atomic.LoadUint64(&s.buckets[r*sk.width+rowIndex(h, r, sk.width)]), cur)
		if f == fp && c > est {
			est = c
		}
	}
	return uint64(est)
}

// halve ages every count by one half: it advances the epoch, and every normalizeEvery epochs
// sweeps the table so no bucket falls 256 epochs behind.
func (sk *sketch) halve() {
	cur := uint8(sk.epoch.Add(1))
	if cur%normalizeEvery != 0 {
		return
	}
	for i := range sk.shards {
		sh := &sk.shards[i]
		sh.mu.Lock()
		for j, b := range sh.buckets {
			if b != 0 && uint8(b>>epochShift) != cur {
				f, c := unpack(b, cur)
				atomic.StoreUint64(&sh.buckets[j], pack(f, c, cur))
			}
		}
		sh.mu.Unlock()
	}
}

// inboxBytes is the memory of the shard inboxes allocated so far (each has two buffers).
func (sk *sketch) inboxBytes() int {
	n := 0
	for i := range sk.shards {
		sh := &sk.shards[i]
		sh.mu.Lock()
		n += cap(sh.spare)
		sh.mu.Unlock()
		sh.in.lock()
		n += cap(sh.in.items)
		sh.in.mu.Unlock()
	}
	return n * slotSize
}

func (sk *sketch) bytes() int { return numShards * sk.width * sk.depth * 8 }
