package hotkey

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// accuracyConfig is the ≤ 128 KiB configuration the targets are measured with.
func accuracyConfig(k int, windowed bool) Config {
	cfg := DefaultConfig()
	cfg.K = k
	cfg.Width = 7168
	cfg.Seed = 42
	cfg.Window = 0
	if !windowed {
		cfg.WindowEvents = 0
	}
	return cfg
}

type accuracyResult struct {
	precision, recall float64
	kth               uint64
	bytes             int
}

// runAccuracy feeds a Zipf stream to a fresh detector on one goroutine and scores its TopK
// against exact counts kept with the same window.
func runAccuracy(tb testing.TB, z *zipfStream, cfg Config) accuracyResult {
	tb.Helper()
	d, err := New(cfg)
	require.NoError(tb, err)
	tr := newTruth()
	tr.attach(d)
	for _, r := range z.events {
		d.Add(z.keys[r], 1)
	}
	top := d.TopK()
	p, r, kth := tr.score(top, cfg.K)
	return accuracyResult{precision: p, recall: r, kth: kth, bytes: d.MemoryBytes()}
}

func TestAccuracyZipf(t *testing.T) {
	nEvents, nKeys := streamSize()
	for _, s := range []float64{0.8, 1.0, 1.2} {
		z := genZipf(t, s, nKeys, nEvents, 1)
		for _, k := range []int{10, 100} {
			for _, windowed := range []bool{false, true} {
				name := fmt.Sprintf("s=%.1f/K=%d/window=%v", s, k, windowed)
				t.Run(name, func(t *testing.T) {
					start := time.Now()
					res := runAccuracy(t, z, accuracyConfig(k, windowed))
					t.Logf("%d events over %d keys: precision %.3f recall %.3f (k-th count %d) in %d bytes, %v",
						nEvents, nKeys, res.precision, res.recall, res.kth, res.bytes, time.Since(start).Round(time.Millisecond))
					require.LessOrEqual(t, res.bytes, 128<<10)
					if k == 10 {
						require.Equal(t, 1.0, res.precision)
						require.Equal(t, 1.0, res.recall)
						return
					}
					// At K=100 the reduced stream of the normal suite leaves the K-th count small
					// (≈ 10 with the window on) with many near-ties, and which per-P stripe an add
					// lands in is not deterministic (the race detector makes sync.Pool drop stripes
					// at random), so one key on the tie line may swap with its neighbour. The
					// full-size streams of the targets (ZHIBO_HOTKEY_FULL=1, BenchmarkAccuracy)
					// score 1.000.
					require.GreaterOrEqual(t, res.precision, 0.98)
					require.GreaterOrEqual(t, res.recall, 0.98)
				})
			}
		}
	}
}
