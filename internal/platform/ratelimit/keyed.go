// Package ratelimit limits how often each key (a user id, a client address) may act: a token
// bucket per key in sharded maps whose idle buckets are dropped, so memory follows the recently
// active keys. Danmaku limits comments with it, room limits likes, the gateway limits requests
// per IP.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// limiterShards spreads users over independently locked maps so concurrent senders rarely
// contend on one mutex.
const (
	limiterShardBits = 6
	limiterShards    = 1 << limiterShardBits
)

// Keyed is a token bucket per key (user), kept in sharded maps. A bucket left alone for as
// long as it takes to refill completely is indistinguishable from a new one, so it is
// dropped: memory holds only the users who sent recently, and dropping changes no decision.
// SetLimit changes the rate and burst of every bucket while the limiter is in use.
type Keyed[K comparable] struct {
	p      atomic.Pointer[limitParams]
	setMu  sync.Mutex // serialises SetLimit
	seed   maphash.Seed
	shards [limiterShards]limiterShard[K]
}

// limitParams is one setting of the limiter; gen tells buckets made under an older one, and at
// is when it was set: such buckets refill at the old rate until then, at the new one after.
type limitParams struct {
	limit rate.Limit
	burst int
	idle  time.Duration // time to refill a whole burst from empty
	gen   uint64
	at    time.Time
}

func newLimitParams(perSecond float64, burst int, gen uint64, at time.Time) *limitParams {
	p := &limitParams{limit: rate.Inf, burst: burst, gen: gen, at: at}
	if perSecond > 0 {
		p.limit = rate.Limit(perSecond)
		p.idle = max(time.Second, time.Duration(float64(burst)/perSecond*float64(time.Second)))
	}
	return p
}

type limiterShard[K comparable] struct {
	mu        sync.Mutex
	m         map[K]*limiterEntry
	nextSweep time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time // last time the user asked, allowed or not
	gen  uint64    // the limitParams lim was last set to
}

// NewKeyed allows perSecond events per user with the given burst; perSecond 0 allows
// everything.
func NewKeyed[K comparable](perSecond float64, burst int) *Keyed[K] {
	l := &Keyed[K]{seed: maphash.MakeSeed()}
	l.p.Store(newLimitParams(perSecond, burst, 0, time.Time{}))
	for i := range l.shards {
		l.shards[i].m = make(map[K]*limiterEntry)
	}
	return l
}

// SetLimit changes the rate and burst from now on (the clock of the times given to Allow), for
// every key. A bucket keeps the tokens it holds (at most the new burst), so lowering a limit
// does not hand every user a fresh burst, and refills at the new rate from now; perSecond 0
// allows everything and forgets every bucket.
func (l *Keyed[K]) SetLimit(perSecond float64, burst int, now time.Time) {
	l.setMu.Lock()
	defer l.setMu.Unlock()
	p := newLimitParams(perSecond, burst, l.p.Load().gen+1, now)
	l.p.Store(p)
	if p.limit == rate.Inf { // Allow no longer sweeps: drop the buckets now
		for i := range l.shards {
			s := &l.shards[i]
			s.mu.Lock()
			clear(s.m)
			s.mu.Unlock()
		}
	}
}

// Allow takes one token of key's bucket at now. When there is none it returns false and how
// long until one is available.
func (l *Keyed[K]) Allow(key K, now time.Time) (bool, time.Duration) {
	p := l.p.Load()
	if p.limit == rate.Inf {
		return true, 0
	}
	s := &l.shards[maphash.Comparable(l.seed, key)>>(64-limiterShardBits)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !now.Before(s.nextSweep) {
		s.sweep(now, p.idle)
	}
	e := s.m[key]
	switch {
	case e == nil:
		e = &limiterEntry{lim: rate.NewLimiter(p.limit, p.burst), gen: p.gen}
		s.m[key] = e
	case e.gen != p.gen: // made under an older SetLimit: bring it to p as of p.at
		at := p.at
		if at.After(now) {
			at = now
		}
		e.lim.SetBurstAt(at, p.burst)
		e.lim.SetLimitAt(at, p.limit)
		e.gen = p.gen
	}
	e.last = now
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - e.lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(p.limit) * float64(time.Second)))
}

// sweep drops the buckets idle for at least idle; it runs at most once per idle period per
// shard, so its cost is spread over the calls of that period.
func (s *limiterShard[K]) sweep(now time.Time, idle time.Duration) {
	for k, e := range s.m {
		if now.Sub(e.last) >= idle {
			delete(s.m, k)
		}
	}
	s.nextSweep = now.Add(idle)
}

// Size is the number of buckets held.
func (l *Keyed[K]) Size() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
