// Package cache is the shared cache in front of the stores when Redis is configured. Reads of
// the keys a hot-key detector marks hot use RESP3 server-assisted client-side caching: the value
// is served from process memory, and Redis tells every process holding it when the key is
// written, so a hot key costs no network round trip and is never stale beyond the invalidation
// delay. Cold keys are ordinary GETs.
package cache

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// Config selects the Redis behind the cache.
type Config struct {
	// Addr is host:port of Redis (empty = no shared cache: components keep only their
	// in-process hot-key caches; and no gateway limit rule may be shared).
	Addr string `yaml:"addr"`
	// LocalTTL bounds how long a hot key is served from process memory; Redis invalidates it
	// sooner on every write.
	LocalTTL time.Duration `yaml:"local_ttl"`
	// LocalBytes is the client-side cache size per connection.
	LocalBytes int `yaml:"local_bytes"`
	// Prefix starts every key, so deployments (or test runs) can share one Redis.
	Prefix string `yaml:"prefix"`
	// Timeout bounds each cache call: a Redis that is down or slow costs a read at most this
	// before the caller reads its store instead.
	Timeout time.Duration `yaml:"timeout"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.Addr, prefix+"addr", "", "Redis host:port for the shared cache and the gateway's shared limit rules (empty = in-process caches only, no shared rules).")
	fs.DurationVar(&c.LocalTTL, prefix+"local_ttl", 30*time.Second, "longest a hot key is served from process memory (writes invalidate it sooner).")
	fs.IntVar(&c.LocalBytes, prefix+"local_bytes", 64<<20, "client-side cache bytes per Redis connection.")
	fs.StringVar(&c.Prefix, prefix+"prefix", "zhibo:", "prefix of every cache key in Redis.")
	fs.DurationVar(&c.Timeout, prefix+"timeout", 100*time.Millisecond, "time limit of one cache call; past it the store is read instead.")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.LocalTTL <= 0 || c.LocalBytes <= 0 || c.Timeout <= 0 {
		return errors.New("redis.local_ttl, redis.local_bytes and redis.timeout must be positive")
	}
	return nil
}

// Redis is the shared cache.
type Redis struct {
	c       rueidis.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
	hot     func(key string) bool
	reads   *prometheus.CounterVec
	writes  prometheus.Counter
}

// Open connects to Redis. hot decides which keys are read through client-side caching.
func Open(cfg Config, hot func(key string) bool, reg prometheus.Registerer) (*Redis, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{cfg.Addr},
		CacheSizeEachConn: cfg.LocalBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", cfg.Addr, err)
	}
	r := &Redis{c: c, prefix: cfg.Prefix, ttl: cfg.LocalTTL, hot: hot, timeout: cfg.Timeout,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_cache_reads_total", Help: "Shared cache reads by result: local (hot key from process memory), hit, miss.",
		}, []string{"result"}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_cache_writes_total", Help: "Shared cache sets and deletes.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.reads, r.writes)
	}
	return r, nil
}

// Get reads key; ok is false when it is absent.
func (r *Redis) Get(ctx context.Context, key string) (val []byte, ok bool, err error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	var res rueidis.RedisResult
	if r.hot != nil && r.hot(key) {
		res = r.c.DoCache(ctx, r.c.B().Get().Key(r.prefix+key).Cache(), r.ttl)
	} else {
		res = r.c.Do(ctx, r.c.B().Get().Key(r.prefix+key).Build())
	}
	val, err = res.AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		r.reads.WithLabelValues("miss").Inc()
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redis get %s: %w", key, err)
	case res.IsCacheHit():
		r.reads.WithLabelValues("local").Inc()
	default:
		r.reads.WithLabelValues("hit").Inc()
	}
	return val, true, nil
}

// Set stores key for ttl.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	r.writes.Inc()
	if err := r.c.Do(ctx, r.c.B().Set().Key(r.prefix+key).Value(rueidis.BinaryString(val)).Px(ttl).Build()).Error(); err != nil {
		return fmt.Errorf("redis set %s: %w", key, err)
	}
	return nil
}

// Del removes keys; every process caching them locally is told by Redis.
func (r *Redis) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	r.writes.Inc()
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	if err := r.c.Do(ctx, r.c.B().Del().Key(full...).Build()).Error(); err != nil {
		return fmt.Errorf("redis del: %w", err)
	}
	return nil
}

// Bound puts the time limit of one cache call (redis.timeout) on ctx, for callers that run
// their own commands through Client.
func (r *Redis) Bound(ctx context.Context) (context.Context, context.CancelFunc) { return r.bound(ctx) }

// bound puts the call time limit on ctx (none when it is 0: a Redis built without Open's config).
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// Client is the connection to Redis, for callers that run their own commands (the gateway's
// shared limits); keys they write start with Prefix.
func (r *Redis) Client() rueidis.Client { return r.c }

// Prefix starts every key written through this Redis (redis.prefix).
func (r *Redis) Prefix() string { return r.prefix }

// Close disconnects.
func (r *Redis) Close() { r.c.Close() }
