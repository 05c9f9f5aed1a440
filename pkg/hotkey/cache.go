package hotkey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// CacheConfig bounds a Cache.
type CacheConfig struct {
	// Size is the most entries held. 0 = twice the detector's K (room for pins and churn).
	Size int `yaml:"size"`
	// TTL is how long a loaded value is served before it is loaded again. 0 = 1s.
	TTL time.Duration `yaml:"ttl"`
	// Name is the value of the const label "cache" on the cache metrics, needed when one detector
	// backs several caches on one registry (then every one of them needs a name: Prometheus
	// wants the same label names on one metric). "" = no label.
	Name string `yaml:"name"`
}

// Cache keeps in memory exactly the keys its detector reports hot. Cold keys read through to the
// loader every time, so the cache never serves a stale value of a key nobody reads often, and its
// memory stays bounded by the hot set.
type Cache[V any] struct {
	det  *Detector
	size int
	ttl  time.Duration
	load func(ctx context.Context, key string) (V, error)
	m    cacheMetrics

	mu      sync.Mutex
	entries map[string]*cacheEntry[V]
}

type cacheEntry[V any] struct {
	done    chan struct{} // closed once val/err are set
	val     V
	err     error
	expires int64 // Unix nanoseconds
}

// NewCache builds a cache over det. Every Get counts one read of its key in det, so callers do
// not Add the same reads themselves. Entries of keys that leave the hot set are evicted at the
// detector's next report tick (and on their next Get), so the detector must be started.
func NewCache[V any](det *Detector, cfg CacheConfig, load func(ctx context.Context, key string) (V, error)) (*Cache[V], error) {
	if det == nil || load == nil {
		return nil, errors.New("hotkey: cache needs a detector and a loader")
	}
	if cfg.Size < 0 || cfg.TTL < 0 {
		return nil, fmt.Errorf("hotkey: cache size %d and ttl %v must not be negative", cfg.Size, cfg.TTL)
	}
	if cfg.Size == 0 {
		cfg.Size = 2 * det.cfg.K
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Second
	}
	m, err := newCacheMetrics(det.cfg, cfg.Name)
	if err != nil {
		return nil, err
	}
	c := &Cache[V]{det: det, size: cfg.Size, ttl: cfg.TTL, load: load, m: m,
		entries: map[string]*cacheEntry[V]{}}
	det.OnChange(func(_, removed []string) { c.evict(removed) })
	return c, nil
}

// Get returns key's value: from memory while the key is hot and its entry is younger than TTL,
// otherwise from the loader. Concurrent Gets of one hot key share a single load; a load error is
// returned to all of them and not cached.
func (c *Cache[V]) Get(ctx context.Context, key string) (V, error) {
	c.det.Add(key, 1)
	if !c.det.IsHot(key) {
		c.evict([]string{key})
		c.m.misses.Inc()
		return c.load(ctx, key)
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	if e := c.entries[key]; e != nil {
		select {
		case <-e.done:
			if e.err == nil && now < e.expires {
				c.mu.Unlock()
				c.m.hits.Inc()
				return e.val, nil
			}
		default: // a load is under way: wait for it
			c.mu.Unlock()
			c.m.hits.Inc()
			select {
			case <-e.done:
				return e.val, e.err
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
		}
	}
	e := &cacheEntry[V]{done: make(chan struct{})}
	cached := c.makeRoom(now)
	if cached {
		c.entries[strings.Clone(key)] = e
	}
	c.mu.Unlock()
	c.m.misses.Inc()
	v, err := c.load(ctx, key)
	if !cached {
		return v, err
	}
	c.mu.Lock()
	e.val, e.err, e.expires = v, err, time.Now().Add(c.ttl).UnixNano()
	if err != nil && c.entries[key] == e {
		delete(c.entries, key)
	}
	close(e.done)
	c.mu.Unlock()
	return v, err
}

// makeRoom frees a slot if the cache is full: expired entries first, else the one expiring
// soonest. Entries still loading are never dropped; if all are loading it reports false and the
// caller loads without caching. The caller holds c.mu.
func (c *Cache[V]) makeRoom(now int64) bool {
	if len(c.entries) < c.size {
		return true
	}
	var victim string
	var soonest int64
	for k, e := range c.entries {
		select {
		case <-e.done:
		default:
			continue
		}
		if e.expires <= now {
			delete(c.entries, k)
			c.m.evictions.Inc()
			continue
		}
		if victim == "" || e.expires < soonest {
			victim, soonest = k, e.expires
		}
	}
	if len(c.entries) < c.size {
		return true
	}
	if victim == "" {
		return false
	}
	delete(c.entries, victim)
	c.m.evictions.Inc()
	return true
}

// evict drops the entries of keys that are no longer hot (loads in flight finish for their
// waiters but are not kept).
func (c *Cache[V]) evict(keys []string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if _, ok := c.entries[k]; ok && !c.det.IsHot(k) {
			delete(c.entries, k)
			c.m.evictions.Inc()
		}
	}
}

// Len is the number of entries held.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
