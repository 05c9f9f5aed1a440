package hotkey

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchKeys is a Zipf(1.0) stream of 1 M events over 1 M keys, as strings ready to Add.
func benchKeys(b *testing.B) []string {
	z := genZipf(b, 1.0, 1_000_000, 1_000_000, 9)
	keys := make([]string, len(z.events))
	for i, r := range z.events {
		keys[i] = z.keys[r]
	}
	return keys
}

func benchDetector(b *testing.B) *Detector {
	cfg := accuracyConfig(100, true)
	d, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop(context.Background()) })
	return d
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
}

// BenchmarkAdd is one goroutine adding Zipf keys to a K=100, ≤ 128 KiB windowed detector.
func BenchmarkAdd(b *testing.B) {
	keys := benchKeys(b)
	d := benchDetector(b)
	mask := len(keys)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Add(keys[i%mask], 1)
	}
	b.StopTimer()
	reportRate(b)
}

// BenchmarkAddParallel is the same with b.RunParallel; run with -cpu 1,2 to see the scaling.
func BenchmarkAddParallel(b *testing.B) {
	keys := benchKeys(b)
	d := benchDetector(b)
	var offset atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(offset.Add(len64(keys) / 7))
		for pb.Next() {
			d.Add(keys[i%len(keys)], 1)
			i++
		}
	})
	b.StopTimer()
	reportRate(b)
}

func len64(s []string) int64 { return int64(len(s)) }

// benchCache builds a cache whose loader is a map lookup under a mutex, like a read-through to
// a local store.
func benchCache(b *testing.B) (*Detector, *Cache[int]) {
	d := benchDetector(b)
	l := newLoader()
	c, err := NewCache(d, CacheConfig{TTL: time.Minute}, l.load)
	if err != nil {
		b.Fatal(err)
	}
	return d, c
}

func BenchmarkCacheGetHot(b *testing.B) {
	d, c := benchCache(b)
	d.Pin("k1", time.Now().Add(time.Hour))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, "k1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheGetCold(b *testing.B) {
	_, c := benchCache(b)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAccuracy runs the full target streams (10 M events over 1 M keys) once per iteration
// and reports precision and recall against exact counts; use -benchtime=1x.
func BenchmarkAccuracy(b *testing.B) {
	for _, s := range []float64{0.8, 1.0, 1.2} {
		for _, k := range []int{10, 100} {
			for _, windowed := range []bool{false, true} {
				b.Run(fmt.Sprintf("s=%.1f/K=%d/window=%v", s, k, windowed), func(b *testing.B) {
					z := genZipf(b, s, 1_000_000, 10_000_000, 1)
					b.ResetTimer()
					var res accuracyResult
					for i := 0; i < b.N; i++ {
						res = runAccuracy(b, z, accuracyConfig(k, windowed))
					}
					b.StopTimer()
					b.ReportMetric(res.precision, "precision")
					b.ReportMetric(res.recall, "recall")
					b.ReportMetric(float64(res.bytes), "bytes")
					b.ReportMetric(float64(b.N*len(z.events))/b.Elapsed().Seconds(), "adds/s")
				})
			}
		}
	}
}
