package gateway

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// bbr is the adaptive limit's decision, after the BBR limiter of Kratos: over a sliding window
// of buckets it keeps the most requests one bucket passed and the least mean latency a bucket
// saw; their product is the concurrency the node has shown it can serve. While the process's
// CPU use is over the threshold (and for a second after it last refused), a request that would
// put more in flight than that is refused.
//
// It is written here rather than taken from the library because the library samples the CPU
// from package initialisation in every process that links it (a goroutine, a 500 ms wait at
// start on hosts without cgroup v1, and a panic when the reading fails), whether shedding is on
// or not; this one reads the process's own CPU time (getrusage) only once shedding is on, and
// takes its CPU source as a parameter so tests can drive it.
type bbr struct {
	cpu       func() int64 // the process's CPU use in permille of its GOMAXPROCS
	threshold int64
	bucket    time.Duration
	now       func() time.Time

	inFlight atomic.Int64
	prevDrop atomic.Int64 // unix ns of the last refusal while over the threshold (0: none)

	mu      sync.Mutex
	buckets []bbrBucket
}

type bbrBucket struct {
	epoch  int64 // which bucket-length slot of time this holds (stale ones are skipped)
	passed int64
	rtSum  time.Duration
}

const (
	bbrWindow  = 10 * time.Second
	bbrBuckets = 100
	bbrCool    = time.Second // refusals go on this long after the CPU falls under the threshold
)

func newBBR(threshold int64, cpu func() int64) *bbr {
	return &bbr{cpu: cpu, threshold: threshold, bucket: bbrWindow / bbrBuckets, now: time.Now,
		buckets: make([]bbrBucket, bbrBuckets)}
}

// allow admits a request (done must be called when it ends) or refuses it.
func (b *bbr) allow() (done func(), ok bool) {
	if b.shouldDrop() {
		return nil, false
	}
	b.inFlight.Add(1)
	start := b.now()
	return func() {
		end := b.now()
		b.inFlight.Add(-1)
		b.record(end, end.Sub(start))
	}, true
}

func (b *bbr) record(at time.Time, rt time.Duration) {
	epoch := at.UnixNano() / int64(b.bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := &b.buckets[epoch%bbrBuckets]
	if bk.epoch != epoch {
		*bk = bbrBucket{epoch: epoch}
	}
	bk.passed++
	bk.rtSum += rt
}

// maxInFlight is most passed per bucket × least mean latency, in requests, over the window's
// finished buckets (at least 1).
func (b *bbr) maxInFlight() int64 {
	cur := b.now().UnixNano() / int64(b.bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	var maxPass int64 = 1
	minRT := time.Duration(math.MaxInt64)
	for _, bk := range b.buckets {
		if bk.epoch >= cur || bk.epoch <= cur-bbrBuckets || bk.passed == 0 {
			continue
		}
		maxPass = max(maxPass, bk.passed)
		minRT = min(minRT, bk.rtSum/time.Duration(bk.passed))
	}
	if minRT == time.Duration(math.MaxInt64) {
		minRT = time.Millisecond
	}
	perSecond := float64(time.Second / b.bucket)
	return max(1, int64(math.Ceil(float64(maxPass)*perSecond*minRT.Seconds())))
}

func (b *bbr) shouldDrop() bool {
	now := b.now().UnixNano()
	if b.cpu() < b.threshold {
		prev := b.prevDrop.Load()
		if prev == 0 {
			return false
		}
		if time.Duration(now-prev) > bbrCool {
			b.prevDrop.Store(0)
			return false
		}
		return b.inFlight.Load() > b.maxInFlight()
	}
	if b.inFlight.Load() > b.maxInFlight() {
		b.prevDrop.Store(now)
		return true
	}
	return false
}

// processCPU is the process's CPU use in permille of GOMAXPROCS, smoothed (a decay of 0.8 per
// 250 ms reading), from the CPU time the kernel counts for it. The reading starts with the
// first call (when shedding is turned on) and goes on for the process's life. Where the CPU
// time cannot be read it stays 0, and shedding never sees the node as busy.
func processCPU() int64 {
	cpuOnce.Do(func() { go sampleCPU() })
	return cpuUsage.Load()
}

var (
	cpuOnce  sync.Once
	cpuUsage atomic.Int64
)

func sampleCPU() {
	const every = 250 * time.Millisecond
	last, ok := cpuTime()
	if !ok {
		return
	}
	lastAt := time.Now()
	var smooth float64
	for range time.Tick(every) {
		now, ok := cpuTime()
		at := time.Now()
		if !ok {
			continue
		}
		used := (now - last).Seconds() / at.Sub(lastAt).Seconds() / float64(runtime.GOMAXPROCS(0)) * 1000
		last, lastAt = now, at
		smooth = smooth*0.8 + used*0.2
		cpuUsage.Store(int64(smooth))
	}
}
