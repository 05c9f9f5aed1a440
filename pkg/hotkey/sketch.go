package hotkey

import (
	"math"
	"math/bits"
	"sync"
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
// 32-bit fingerprint (high half) and a 32-bit count (low half) in one word, so a row lookup is one
// load and one store.
type sketch struct {
	shards [numShards]shard
	depth  int
	width  int      // buckets per row per shard
	decay  []uint32 // decay[c] = b^-c scaled to 2^32; empty past the point where it rounds to 0
}

type shard struct {
	mu      sync.Mutex
	rng     uint64
	buckets []uint64 // row r occupies [r*width, (r+1)*width)
	_       [cacheLine]byte
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
// count among the rows whose bucket it holds, 0 if it holds none. The caller holds s.mu.
//
// Per row (HeavyKeeper): an empty bucket is claimed; a bucket with the key's fingerprint grows by
// n; a bucket held by another key is decremented with probability b^-count once per occurrence,
// and an occurrence that brings it to zero claims it with the occurrences left. Large counts
// (past the decay table) never decay, which is what keeps an elephant's count exact.
func (s *shard) add(sk *sketch, h uint64, n uint32) uint64 {
	fp := uint32(h)
	var est uint32
	for r := 0; r < sk.depth; r++ {
		i := r*sk.width + rowIndex(h, r, sk.width)
		b := s.buckets[i]
		c, f := uint32(b), uint32(b>>32)
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
		s.buckets[i] = uint64(f)<<32 | uint64(c)
		if f == fp && c > est {
			est = c
		}
	}
	return uint64(est)
}

// estimate is the key's current count (0 if it holds no bucket), taken under the shard's lock.
func (sk *sketch) estimate(h uint64) uint64 {
	s := &sk.shards[shardOf(h)]
	fp := uint32(h)
	var est uint32
	s.mu.Lock()
	for r := 0; r < sk.depth; r++ {
		b := s.buckets[r*sk.width+rowIndex(h, r, sk.width)]
		if uint32(b>>32) == fp && uint32(b) > est {
			est = uint32(b)
		}
	}
	s.mu.Unlock()
	return uint64(est)
}

// halve divides every count by two (rounding down), the aging step of the window. The caller
// holds s.mu.
func (s *shard) halve() {
	for i, b := range s.buckets {
		if c := uint32(b) >> 1; c == 0 {
			s.buckets[i] = 0
		} else {
			s.buckets[i] = b&^math.MaxUint32 | uint64(c)
		}
	}
}

func (sk *sketch) halve() {
	for i := range sk.shards {
		sh := &sk.shards[i]
		sh.mu.Lock()
		sh.halve()
		sh.mu.Unlock()
	}
}

func (sk *sketch) bytes() int { return numShards * sk.width * sk.depth * 8 }
