package room

import (
	"context"
	"sync"
	"time"
)

// likesCacheMax bounds the rooms whose totals are held; past it the cache starts over.
const likesCacheMax = 100_000

// likesCache keeps rooms' like totals for one fold window: a total changes at most once per
// window, so reading it from the store more often buys nothing, and a hot room's stats are
// read by every viewer who opens it.
type likesCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[int64]likesEntry
}

type likesEntry struct {
	n  int64
	at time.Time
}

func newLikesCache(ttl time.Duration, now func() time.Time) *likesCache {
	if ttl <= 0 {
		ttl = time.Second
	}
	return &likesCache{ttl: ttl, now: now, m: map[int64]likesEntry{}}
}

// get returns the totals of ids, reading the rooms not held fresh through load.
func (c *likesCache) get(ctx context.Context, ids []int64, load func(context.Context, []int64) (map[int64]int64, error)) (map[int64]int64, error) {
	now := c.now()
	out := make(map[int64]int64, len(ids))
	var miss []int64
	c.mu.Lock()
	for _, id := range ids {
		if e, ok := c.m[id]; ok && now.Sub(e.at) < c.ttl {
			out[id] = e.n
		} else {
			miss = append(miss, id)
		}
	}
	c.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	got, err := load(ctx, miss)
	if err != nil {
		return nil, err
	}
	fresh := make(map[int64]int64, len(miss))
	for _, id := range miss {
		fresh[id] = got[id] // absent = no likes yet
		out[id] = got[id]
	}
	c.put(fresh, now)
	return out, nil
}

// put records totals known at now (a flush's new totals, or a read).
func (c *likesCache) put(totals map[int64]int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(totals) > likesCacheMax {
		clear(c.m)
	}
	for id, n := range totals {
		c.m[id] = likesEntry{n: n, at: now}
	}
}
