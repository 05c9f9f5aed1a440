package hotkey

import (
	"cmp"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
)

// streamSize picks the Zipf stream used by accuracy tests: ZHIBO_HOTKEY_FULL=1 selects the
// target size (10 M events over 1 M keys); the default is small enough for -race in seconds.
func streamSize() (events, keys int) {
	if os.Getenv("ZHIBO_HOTKEY_FULL") == "1" {
		return 10_000_000, 1_000_000
	}
	return 300_000, 300_000
}

// zipfStream is a pre-generated stream of key ranks drawn from Zipf(s) over n keys. math/rand/v2
// Zipf needs s > 1, and the targets include s = 0.8 and 1.0, so ranks are drawn by inverting the
// exact CDF with a binary search.
type zipfStream struct {
	keys   []string // rank → key; ranks are shuffled so hot keys are not neighbours
	events []int32
}

var (
	streamsMu sync.Mutex
	streams   = map[[3]float64]*zipfStream{}
)

func genZipf(tb testing.TB, s float64, nKeys, nEvents int, seed uint64) *zipfStream {
	tb.Helper()
	id := [3]float64{s, float64(nKeys), float64(nEvents) + float64(seed)/1e12}
	streamsMu.Lock()
	defer streamsMu.Unlock()
	if z := streams[id]; z != nil {
		return z
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	cdf := make([]float64, nKeys)
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -s)
		cdf[i] = sum
	}
	perm := r.Perm(nKeys)
	z := &zipfStream{keys: make([]string, nKeys), events: make([]int32, nEvents)}
	for i := range z.keys {
		z.keys[i] = "room:" + strconv.Itoa(perm[i])
	}
	for i := range z.events {
		z.events[i] = int32(sort.SearchFloat64s(cdf, r.Float64()*sum))
	}
	streams[id] = z
	return z
}

// truth counts a stream exactly, optionally with the detector's window: it is fed the merged
// (key, count) pairs and the halvings in the order the sketch saw them, and halves with the same
// integer rule, so a perfect sketch would match it exactly.
type truth struct {
	mu     sync.Mutex
	epoch  uint32
	counts map[string]*tcount
}

type tcount struct {
	c     uint64
	epoch uint32
}

func newTruth() *truth { return &truth{counts: map[string]*tcount{}} }

func (t *truth) add(key string, n uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.counts[key]
	if e == nil {
		e = &tcount{epoch: t.epoch}
		t.counts[key] = e
	}
	e.c = e.c>>min(t.epoch-e.epoch, 63) + n
	e.epoch = t.epoch
}

func (t *truth) age() {
	t.mu.Lock()
	t.epoch++
	t.mu.Unlock()
}

// attach makes t follow everything d merges.
func (t *truth) attach(d *Detector) {
	d.testApply = t.add
	d.testAge = t.age
}

// score returns precision and recall of got against the exact top k. A reported key whose true
// count ties the k-th largest is correct: any of the tied keys is a right answer.
func (t *truth) score(got []Item, k int) (precision, recall float64, kth uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := make([]uint64, 0, len(t.counts))
	for _, e := range t.counts {
		all = append(all, e.c>>min(t.epoch-e.epoch, 63))
	}
	slices.SortFunc(all, func(a, b uint64) int { return cmp.Compare(b, a) })
	if len(all) >= k {
		kth = all[k-1]
	}
	hit := 0
	for _, it := range got {
		if e := t.counts[it.Key]; e != nil && e.c>>min(t.epoch-e.epoch, 63) >= max(kth, 1) {
			hit++
		}
	}
	if len(got) > 0 {
		precision = float64(hit) / float64(len(got))
	}
	return precision, float64(hit) / float64(k), kth
}
