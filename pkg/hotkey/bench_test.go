package hotkey

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchKeys is a Zipf(1.0) stream of 1 M events over 1 M keys, as strings ready to Add. Each
// event's key is a copy laid out in stream order, as a key parsed from the request being served
// sits in cache; otherwise the benchmark mostly measures cache misses on a million scattered
// key strings.
func benchKeys(b *testing.B) []string {
	z := genZipf(b, 1.0, 1_000_000, 1_000_000, 9)
	var buf strings.Builder
	for _, r := range z.events {
		buf.WriteString(z.keys[r])
	}
	all := buf.String()
	keys := make([]string, len(z.events))
	off := 0
	for i, r := range z.events {
		n := len(z.keys[r])
		keys[i] = all[off : off+n]
		off += n
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

// cpuTime is the process's user+system CPU time: on a shared machine, CPU time per add is
// steadier than wall time, which also counts waiting for other processes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportRate(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/add")
}

// BenchmarkAdd is one goroutine adding Zipf keys to a K=100, ≤ 128 KiB windowed detector.
func BenchmarkAdd(b *testing.B) {
	keys := benchKeys(b)
	d := benchDetector(b)
	mask := len(keys)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		d.Add(keys[i%mask], 1)
	}
	b.StopTimer()
	reportRate(b, cpu0)
}

// BenchmarkAddParallel is the same with b.RunParallel; run with -cpu 1,2 to see the scaling.
func BenchmarkAddParallel(b *testing.B) {
	keys := benchKeys(b)
	d := benchDetector(b)
	var offset atomic.Int64
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		i := int(offset.Add(len64(keys) / 7))
		for pb.Next() {
			d.Add(keys[i%len(keys)], 1)
			i++
		}
	})
	b.StopTimer()
	reportRate(b, cpu0)
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
					b.ReportMetric(float64(res.kth), "kth-count")
				})
			}
		}
	}
}
