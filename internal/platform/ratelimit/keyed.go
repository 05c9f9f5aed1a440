// Package ratelimit limits how often each key (a user id, a client address) may act: a token
// bucket per key in sharded maps whose idle buckets are dropped, so memory follows the recently
// active keys. Danmaku limits comments with it, room limits likes, the gateway limits requests
// per IP.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
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
type Keyed[K comparable] struct {
	limit  rate.Limit
	burst  int
	idle   time.Duration // time to refill a whole burst from empty
	seed   maphash.Seed
	shards [limiterShards]limiterShard[K]
}

type limiterShard[K comparable] struct {
	mu        sync.Mutex
	m         map[K]*limiterEntry
	nextSweep time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time // last time the user asked, allowed or not
}

// NewKeyed allows perSecond events per user with the given burst; perSecond 0 allows
// everything.
func NewKeyed[K comparable](perSecond float64, burst int) *Keyed[K] {
	l := &Keyed[K]{limit: rate.Inf, burst: burst, seed: maphash.MakeSeed()}
	if perSecond > 0 {
		l.limit = rate.Limit(perSecond)
		l.idle = time.Duration(float64(burst) / perSecond * float64(time.Second))
		if l.idle < time.Second {
			l.idle = time.Second
		}
	}
	for i := range l.shards {
		l.shards[i].m = make(map[K]*limiterEntry)
	}
	return l
}

// Allow takes one token of key's bucket at now. When there is none it returns false and how
// long until one is available.
func (l *Keyed[K]) Allow(key K, now time.Time) (bool, time.Duration) {
	if l.limit == rate.Inf {
		return true, 0
	}
	s := &l.shards[maphash.Comparable(l.seed, key)>>(64-limiterShardBits)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !now.Before(s.nextSweep) {
		s.sweep(now, l.idle)
	}
	e := s.m[key]
	if e == nil {
		e = &limiterEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		s.m[key] = e
	}
	e.last = now
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - e.lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
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
