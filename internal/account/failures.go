package account

import (
	"sync"
	"time"
)

// failures remembers failed logins per key (an account's skeleton, or a client IP) and says
// how long the key must wait before its next attempt: nothing for the first free failures,
// then backoff doubled by each further failure, then lockout from lockAt failures on. Memory
// is bounded: entries expire memory after their last failure, and past max entries the one
// with the fewest failures among a sample is forgotten.
type failures struct {
	free, lockAt int // 0: never wait, never lock
	backoff      time.Duration
	lockout      time.Duration
	memory       time.Duration
	max          int

	mu        sync.Mutex
	m         map[string]*failure
	nextSweep time.Time
}

type failure struct {
	n     int
	last  time.Time // last failure
	until time.Time // no attempt before
}

// evictSample is how many entries are looked at to choose one to forget when full.
const evictSample = 16

func newFailures(free, lockAt int, backoff, lockout, memory time.Duration, max int) *failures {
	return &failures{free: free, lockAt: lockAt, backoff: backoff, lockout: lockout, memory: memory,
		max: max, m: map[string]*failure{}}
}

// wait is how long key must still wait at now (0: it may try).
func (f *failures) wait(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.m[key]; e != nil && now.Before(e.until) {
		return e.until.Sub(now)
	}
	return 0
}

// fail records a failure of key at now and reports whether it locked the key.
func (f *failures) fail(key string, now time.Time) (locked bool) {
	if f.free == 0 && f.lockAt == 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !now.Before(f.nextSweep) {
		f.sweep(now)
	}
	e := f.m[key]
	if e == nil || now.Sub(e.last) >= f.memory {
		if e == nil && len(f.m) >= f.max {
			f.evict()
		}
		e = &failure{}
		f.m[key] = e
	}
	e.n++
	e.last = now
	switch {
	case f.lockAt > 0 && e.n >= f.lockAt:
		e.until = now.Add(f.lockout)
		return true
	case f.free > 0 && e.n >= f.free:
		e.until = now.Add(f.delay(e.n - f.free))
	}
	return false
}

// delay is the wait after the k-th failure past the free ones: backoff·2^k, at most the
// lockout (or an hour without one).
func (f *failures) delay(k int) time.Duration {
	limit := f.lockout
	if f.lockAt == 0 || limit <= 0 {
		limit = time.Hour
	}
	d := f.backoff
	for ; k > 0 && d < limit; k-- {
		d *= 2
	}
	return min(d, limit)
}

// reset forgets key's failures (a successful login).
func (f *failures) reset(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}

func (f *failures) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

func (f *failures) sweep(now time.Time) {
	for k, e := range f.m {
		if now.Sub(e.last) >= f.memory && !now.Before(e.until) {
			delete(f.m, k)
		}
	}
	f.nextSweep = now.Add(min(f.memory, time.Minute))
}

// evict forgets the entry with the fewest failures among a sample (map order is random), so
// a flood of new keys pushes out harmless entries before the ones that hold a lockout.
func (f *failures) evict() {
	var victim string
	least, seen := -1, 0
	for k, e := range f.m {
		if least < 0 || e.n < least {
			victim, least = k, e.n
		}
		if seen++; seen == evictSample {
			break
		}
	}
	delete(f.m, victim)
}
