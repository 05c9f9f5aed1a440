package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketsAreContiguousAndTight(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v += 1 + v/97 {
		b := bucketOf(v)
		require.GreaterOrEqual(t, b, prev, "buckets grow with the value (v=%d)", v)
		require.LessOrEqual(t, b-prev, 1, "no bucket is skipped (v=%d)", v)
		require.LessOrEqual(t, v, bucketHigh(b), "v=%d lies in its bucket", v)
		if b > 0 {
			require.Greater(t, v, bucketHigh(b-1), "v=%d lies above the previous bucket", v)
		}
		// Relative width of a bucket is at most 1/subBuckets.
		require.LessOrEqual(t, float64(bucketHigh(b)-v), float64(v)/subBuckets+1)
		prev = b
	}
	require.Equal(t, numBuckets-1, bucketOf(1<<62), "huge values land in the last bucket")
}

func TestQuantilesMatchSortedData(t *testing.T) {
	h := NewHist(4)
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		// Log-normal-ish latencies from 100 µs to a few seconds.
		vals[i] = time.Duration(100*(1<<rng.IntN(15))+rng.IntN(1000)) * time.Microsecond
		h.RecordN(i, vals[i], 1)
	}
	slices.Sort(vals)
	s := h.Snapshot()
	require.Equal(t, uint64(len(vals)), s.Total)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1]
		got := s.Quantile(q)
		require.InEpsilon(t, float64(want), float64(got), 1.0/subBuckets+0.001, "q=%v", q)
	}
	require.Equal(t, vals[len(vals)-1].Truncate(time.Microsecond), s.Max())
	require.Equal(t, vals[len(vals)-1].Truncate(time.Microsecond), time.Duration(s.MaxUS)*time.Microsecond)
}

func TestSnapshotDifferenceIsTheInterval(t *testing.T) {
	h := NewHist(2)
	h.RecordN(0, time.Millisecond, 10)
	first := h.Snapshot()
	h.RecordN(1, 50*time.Millisecond, 5)
	d := h.Snapshot().Sub(first)
	require.Equal(t, uint64(5), d.Total)
	require.InEpsilon(t, float64(50*time.Millisecond), float64(d.Quantile(0.5)), 0.04)
	require.Equal(t, time.Duration(0), (&Snapshot{}).Quantile(0.99), "an empty histogram has no quantile")
	h.RecordN(0, -time.Second, 1) // clock skew is recorded as zero, not as a huge value
	require.Equal(t, uint64(1), h.Snapshot().Counts[0])
}

func BenchmarkRecord(b *testing.B) {
	h := NewHist(8)
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(8)
		for pb.Next() {
			h.RecordN(i, 3*time.Millisecond, 1)
		}
	})
}
