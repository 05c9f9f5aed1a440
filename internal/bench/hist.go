package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are recorded in microseconds into log-linear buckets, as HDR histograms do:
// values below 2·subBuckets are exact, and every power of two above is split into
// subBuckets linear buckets, so any recorded value is known within 1/subBuckets (≈3 %).
const (
	subBits    = 5
	subBuckets = 1 << subBits
	// maxShift bounds the range: values up to 2^(maxShift+subBits+1) µs (about 19 h) keep
	// their bucket; larger ones land in the last bucket.
	maxShift   = 30
	numBuckets = (maxShift + 2) * subBuckets
)

// bucketOf is the bucket index of v (µs).
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	if shift > maxShift {
		return numBuckets - 1
	}
	return (shift+1)*subBuckets + int(v>>uint(shift)) - subBuckets
}

// bucketHigh is the largest value (µs) that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	shift := uint(i/subBuckets - 1)
	m := uint64(i%subBuckets + subBuckets)
	return (m+1)<<shift - 1
}

// Hist is a latency histogram that several goroutines record into without locks: each
// recording goroutine uses its own shard (chosen by the caller), so counters on one cache
// line are not fought over. Snapshot sums the shards.
type Hist struct {
	shards []histShard
}

type histShard struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Uint64
	_      [64]byte // keep the next shard's hot words off this cache line
}

// NewHist returns a histogram with n shards (at least 1).
func NewHist(n int) *Hist {
	if n < 1 {
		n = 1
	}
	return &Hist{shards: make([]histShard, n)}
}

// Shards is the number of shards; callers pick shard = id % Shards().
func (h *Hist) Shards() int { return len(h.shards) }

// RecordN adds n observations of d to shard s.
func (h *Hist) RecordN(s int, d time.Duration, n uint64) {
	if d < 0 {
		d = 0
	}
	v := uint64(d / time.Microsecond)
	sh := &h.shards[s%len(h.shards)]
	sh.counts[bucketOf(v)].Add(n)
	for {
		m := sh.max.Load()
		if v <= m || sh.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot is a point-in-time copy of a histogram; Sub of two snapshots is the histogram of
// what was recorded between them.
type Snapshot struct {
	Counts [numBuckets]uint64
	Total  uint64
	MaxUS  uint64 // exact maximum (µs); for a difference, the cumulative maximum
}

// Snapshot sums the shards.
func (h *Hist) Snapshot() *Snapshot {
	s := &Snapshot{}
	for i := range h.shards {
		sh := &h.shards[i]
		for b := range sh.counts {
			c := sh.counts[b].Load()
			s.Counts[b] += c
			s.Total += c
		}
		s.MaxUS = max(s.MaxUS, sh.max.Load())
	}
	return s
}

// Sub returns s − prev.
func (s *Snapshot) Sub(prev *Snapshot) *Snapshot {
	d := &Snapshot{MaxUS: s.MaxUS}
	for b := range s.Counts {
		d.Counts[b] = s.Counts[b] - prev.Counts[b]
		d.Total += d.Counts[b]
	}
	return d
}

// Quantile is the latency below which a fraction q (0..1) of the observations lie, as the
// upper edge of its bucket and never above the recorded maximum; 0 when empty.
func (s *Snapshot) Quantile(q float64) time.Duration {
	if s.Total == 0 {
		return 0
	}
	rank := uint64(q*float64(s.Total) + 0.5)
	rank = max(1, min(rank, s.Total))
	var seen uint64
	for b, c := range s.Counts {
		seen += c
		if seen >= rank {
			v := bucketHigh(b)
			if s.MaxUS > 0 && v > s.MaxUS {
				v = s.MaxUS
			}
			return time.Duration(v) * time.Microsecond
		}
	}
	return time.Duration(s.MaxUS) * time.Microsecond
}

// Max is the largest bucket holding an observation (exact for a cumulative snapshot).
func (s *Snapshot) Max() time.Duration {
	for b := numBuckets - 1; b >= 0; b-- {
		if s.Counts[b] > 0 {
			return time.Duration(min(bucketHigh(b), s.MaxUS)) * time.Microsecond
		}
	}
	return 0
}
