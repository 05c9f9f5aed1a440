package hotkey

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Detector finds the K hottest keys of a stream. Add is safe for concurrent use and takes no
// lock shared by all goroutines; TopK, IsHot, Pin and OnChange may be called at any time.
type Detector struct {
	cfg        Config
	seed       uint64
	sk         *sketch
	top        *topK
	allow      matcher
	deny       matcher
	stepEvents uint64        // events between halvings, 0 = none
	stepTime   time.Duration // wall time between halvings, 0 = none
	metrics    detectorMetrics

	pool       sync.Pool
	stripesMu  sync.Mutex
	stripes    []*stripe
	maxStripes int
	nextStripe int
	slots      []ownerSlot // shard owners (inbox.go)
	flush      *stripe     // owns every shard; mergeAll applies the inboxes through it

	// Written by merges on every core: on their own cache lines, so those writes do not evict
	// the read-mostly fields every Add reads (seed, sk, pool).
	_       [cacheLine]byte
	events  atomic.Uint64 // adds merged into the sketch
	nextAge atomic.Uint64 // events count at which the next halving is due
	agings  atomic.Uint64
	ageMu   sync.Mutex
	lastAge time.Time
	_       [cacheLine]byte

	hot       atomic.Pointer[hotSet] // read by IsHot
	publishMu sync.Mutex             // serialises snapshot rebuilds
	pinsMu    sync.Mutex
	pins      map[string]time.Time
	cbMu      sync.Mutex
	callbacks []func(added, removed []string)
	reported  map[string]struct{} // hot set last delivered to callbacks (reporter goroutine only)

	runMu   sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool

	// Test hooks: every merged (key, count) and every halving, in the order the sketch saw them.
	testApply func(key string, n uint64)
	testAge   func()
}

// New builds a detector; it starts nothing. Call Start for the background reporter that delivers
// OnChange callbacks, ages the time window and merges buffers at low traffic.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	d := &Detector{
		cfg:        cfg,
		seed:       seed,
		sk:         newSketch(cfg.Width, cfg.Depth, cfg.Decay, seed),
		allow:      newMatcher(cfg.Allow),
		deny:       newMatcher(cfg.Deny),
		maxStripes: 2 * runtime.GOMAXPROCS(0),
		slots:      make([]ownerSlot, min(runtime.GOMAXPROCS(0), numShards)),
		flush:      &stripe{slot: -1, all: true},
		pins:       map[string]time.Time{},
		reported:   map[string]struct{}{},
		lastAge:    time.Now(),
	}
	if cfg.WindowEvents > 0 {
		d.stepEvents = max(cfg.WindowEvents/uint64(cfg.Slots), 1)
		d.nextAge.Store(d.stepEvents)
	}
	if cfg.Window > 0 {
		d.stepTime = max(cfg.Window/time.Duration(cfg.Slots), time.Millisecond)
	}
	d.top = newTopK(cfg.K, cfg.MinCount, d.sk.estimate)
	d.pool.New = d.newStripe
	d.hot.Store(&hotSet{})
	m, err := newDetectorMetrics(cfg)
	if err != nil {
		return nil, err
	}
	d.metrics = m
	return d, nil
}

// hash is xxhash finished with a seeded mix, so bucket positions depend on the detector's seed.
func (d *Detector) hash(key string) uint64 {
	h := xxhash.Sum64String(key) ^ d.seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Add counts n occurrences of key. It is cheap (a hash and a write into a per-P buffer) and safe
// for concurrent use; counts reach TopK when the buffer fills, at the next report tick, or when
// TopK is called.
func (d *Detector) Add(key string, n uint32) {
	if n == 0 {
		return
	}
	h := d.hash(key)
	s := d.pool.Get().(*stripe)
	s.mu.Lock()
	if s.add(h, key, n) {
		d.merge(s, false)
	}
	s.mu.Unlock()
	d.pool.Put(s)
}

// TopK returns the hot keys found by detection, hottest first, with their estimated counts. It
// first merges every buffered add, so it reflects each Add that returned before it. Pinned keys
// are not listed unless detection found them too; IsHot covers both.
func (d *Detector) TopK() []Item {
	d.mergeAll(true)
	return d.top.items(true)
}

// IsHot reports whether key is hot: detected at the last report tick, or pinned. It reads an
// immutable snapshot and takes no lock.
func (d *Detector) IsHot(key string) bool {
	exp, ok := d.hot.Load().keys[key]
	return ok && (exp == 0 || time.Now().UnixNano() < exp)
}

// eligible reports whether detection may report key hot (Deny wins over Allow).
func (d *Detector) eligible(key string) bool {
	if d.deny.match(key) {
		return false
	}
	return d.allow.empty() || d.allow.match(key)
}

// age halves every count when a window step is due (byTime selects which clock asked). Either
// clock's step resets both, so the window is "whichever comes first".
func (d *Detector) age(byTime bool) {
	if byTime {
		d.ageMu.Lock()
	} else if !d.ageMu.TryLock() {
		return // another goroutine is checking or halving; this merge's events count toward the next step
	}
	defer d.ageMu.Unlock()
	now := time.Now()
	total := d.events.Load()
	if byTime && (d.stepTime == 0 || now.Sub(d.lastAge) < d.stepTime) ||
		!byTime && total < d.nextAge.Load() {
		return
	}
	d.nextAge.Store(total + d.stepEvents)
	d.lastAge = now
	d.sk.halve()
	d.top.halve()
	d.agings.Add(1)
	if d.testAge != nil {
		d.testAge()
	}
}

// Stats describes a detector's size and activity.
type Stats struct {
	Events      uint64 // adds merged into the sketch so far
	Agings      uint64 // window halvings so far
	SketchBytes int    // bucket table
	TopKBytes   int    // heap, its index and the member keys
	BufferBytes int    // per-P add buffers and shard inboxes currently allocated
	HotKeys     int    // size of the hot set IsHot answers from (detected + pinned)
}

// Stats returns current figures; MemoryBytes is SketchBytes+TopKBytes.
func (d *Detector) Stats() Stats {
	d.stripesMu.Lock()
	n := len(d.stripes)
	d.stripesMu.Unlock()
	return Stats{
		Events:      d.events.Load(),
		Agings:      d.agings.Load(),
		SketchBytes: d.sk.bytes(),
		TopKBytes:   d.top.bytes(),
		BufferBytes: n*stripeSlots*slotSize + d.sk.inboxBytes(),
		HotKeys:     len(d.hot.Load().keys),
	}
}

// MemoryBytes is the detection state: sketch plus top-K heap with its keys.
func (d *Detector) MemoryBytes() int {
	s := d.Stats()
	return s.SketchBytes + s.TopKBytes
}

// Start launches the reporter goroutine and returns once it runs. ctx bounds its life as well as
// Stop does.
func (d *Detector) Start(ctx context.Context) error {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.done != nil || d.stopped {
		return errors.New("hotkey: detector already started")
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go d.run(ctx)
	return nil
}

// Stop ends the reporter, waits for it, and merges what is still buffered. It returns ctx's
// error if the reporter (busy in a callback) does not end in time.
func (d *Detector) Stop(ctx context.Context) error {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	d.stopped = true
	if d.done == nil {
		return nil
	}
	d.cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		return fmt.Errorf("hotkey: stop: %w", ctx.Err())
	}
	d.mergeAll(true)
	return nil
}
