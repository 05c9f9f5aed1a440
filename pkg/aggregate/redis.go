package aggregate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// RedisFlushFunc writes one flush of the Redis mode. flushID is unique per flush and is
// offered again if the flusher crashed after the sink returned but before Redis forgot the
// flush: the sink must record it in the same transaction as the deltas and skip an id it has
// already recorded (ClaimFlushID does both).
type RedisFlushFunc func(ctx context.Context, flushID string, batch map[string]int64) error

// RedisConfig configures the Redis mode.
type RedisConfig struct {
	// Config sets the window and the pending key cap.
	Config
	// Prefix starts every key the aggregation uses; they all carry the hash tag {Prefix} so
	// they live on one Redis Cluster slot.
	Prefix string
	// LockTTL bounds how long one flusher holds the flush lock (0 = 30s). A sink slower than
	// this may see a flush offered twice; the flush id makes that harmless.
	LockTTL time.Duration
}

// Redis folds increments from several processes into one Redis hash and lets one of them
// per window move the totals to the sink.
//
// Keys: {p}:pending is the hash every Add HINCRBYs; {p}:flush:<id> is a pending hash renamed
// by a flusher; {p}:flushes is the set of flush ids not yet done; {p}:lock is the flush lock;
// {p}:window marks that some process flushed during the current window, so that a key is
// written once per window however many processes run. A flush takes the lock, first re-offers every id left in {p}:flushes (a flusher crashed
// mid-flush), then atomically renames {p}:pending to a fresh {p}:flush:<id> and records the
// id, calls the sink, and only then deletes the hash and the id. An increment is therefore
// either in {p}:pending, in a recorded flush hash, or applied — never lost while Redis keeps
// its data (run it with AOF when increments must survive a Redis restart), and applied twice
// only if the sink ignores the flush id.
type Redis struct {
	cfg  RedisConfig
	rc   rueidis.Client
	sink RedisFlushFunc
	log  *slog.Logger
	m    *metrics

	pendingKey, flushesKey, lockKey, windowKey string

	wake    chan struct{}
	flushMu sync.Mutex

	runMu sync.Mutex
	stop  chan struct{}
	done  chan struct{}
}

var (
	// rotateScript renames the pending hash to a flush hash and records the flush id.
	rotateScript = rueidis.NewLuaScript(`if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1`)
	// doneScript forgets a flush the sink applied.
	doneScript = rueidis.NewLuaScript(`redis.call('DEL', KEYS[1])
return redis.call('SREM', KEYS[2], ARGV[1])`)
	// unlockScript releases the lock only if this flusher still holds it.
	unlockScript = rueidis.NewLuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// NewRedis builds the Redis mode on client rc; it starts nothing.
func NewRedis(cfg RedisConfig, rc rueidis.Client, sink RedisFlushFunc, opts Options) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case rc == nil || sink == nil:
		return nil, errors.New("aggregate: redis mode needs a client and a flush func")
	case cfg.Prefix == "":
		return nil, errors.New("aggregate: redis mode needs a key prefix")
	case cfg.LockTTL < 0:
		return nil, fmt.Errorf("aggregate: lock ttl %s must not be negative", cfg.LockTTL)
	}
	m, err := newMetrics(opts)
	if err != nil {
		return nil, fmt.Errorf("aggregate %s metrics: %w", opts.Name, err)
	}
	cfg.Config = cfg.Config.withDefaults()
	if cfg.LockTTL == 0 {
		cfg.LockTTL = 30 * time.Second
	}
	p := "{" + cfg.Prefix + "}:"
	return &Redis{cfg: cfg, rc: rc, sink: sink, log: opts.logger(), m: m,
		pendingKey: p + "pending", flushesKey: p + "flushes", lockKey: p + "lock", windowKey: p + "window",
		wake: make(chan struct{}, 1)}, nil
}

func (r *Redis) flushKey(id string) string { return "{" + r.cfg.Prefix + "}:flush:" + id }

// Add folds delta into key's pending total in Redis. Once it returned nil the increment is
// Redis's to keep; on error it may or may not have been counted (a network error after the
// command was sent), so callers that retry need their own idempotency.
func (r *Redis) Add(ctx context.Context, key string, delta int64) error {
	res := r.rc.DoMulti(ctx,
		r.rc.B().Hincrby().Key(r.pendingKey).Field(key).Increment(delta).Build(),
		r.rc.B().Hlen().Key(r.pendingKey).Build())
	if err := res[0].Error(); err != nil {
		return fmt.Errorf("aggregate: hincrby: %w", err)
	}
	r.m.took(1)
	if n, err := res[1].AsInt64(); err == nil && n >= int64(r.cfg.MaxPending) {
		poke(r.wake)
	}
	return nil
}

// Stats returns this process's counters.
func (r *Redis) Stats() Stats { return r.m.stats() }

// Start re-offers flushes a crashed flusher left behind, then runs the flush loop.
func (r *Redis) Start(ctx context.Context) error {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if r.stop != nil {
		return errors.New("aggregate: redis mode already started")
	}
	if err := r.flush(ctx, flushLeftovers); err != nil {
		r.log.Warn("aggregate leftover flushes not applied, retrying next window", "err", err)
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go runLoop(context.WithoutCancel(ctx), r.cfg.Window, r.stop, r.done, r.wake,
		func(ctx context.Context, early bool) error {
			if early {
				return r.flush(ctx, flushEarly)
			}
			return r.flush(ctx, flushWindow)
		}, r.log, "aggregate redis")
	return nil
}

// Stop ends the loop and flushes once more, waiting for another process's flush to end if
// one is running.
func (r *Redis) Stop(ctx context.Context) error {
	r.runMu.Lock()
	stop, done := r.stop, r.done
	r.stop, r.done = nil, nil
	r.runMu.Unlock()
	if stop != nil {
		close(stop)
		if err := await(ctx, done); err != nil {
			return err
		}
	}
	if err := r.Flush(ctx); err != nil {
		return fmt.Errorf("aggregate: final flush: %w", err)
	}
	return nil
}

// Flush moves the pending totals to the sink now, waiting while another process flushes.
func (r *Redis) Flush(ctx context.Context) error { return r.flush(ctx, flushNow) }

// flushMode says when a flush gives way to other processes.
type flushMode int

const (
	// flushWindow runs only if no process flushed during the last window ({p}:window, set
	// for one window by the flush that wins it): across all processes a key is written at
	// most once per window.
	flushWindow flushMode = iota
	// flushEarly ignores the window (MaxPending reached) but not a running flush.
	flushEarly
	// flushNow waits for a running flush to end, then flushes (Stop, Flush).
	flushNow
	// flushLeftovers only re-offers recorded flushes (Start).
	flushLeftovers
)

// flush takes the lock, re-offers leftover flushes and then rotates the pending hash.
func (r *Redis) flush(ctx context.Context, mode flushMode) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if mode == flushWindow {
		err := r.rc.Do(ctx, r.rc.B().Set().Key(r.windowKey).Value("1").Nx().Px(r.cfg.Window).Build()).Error()
		if rueidis.IsRedisNil(err) {
			return nil // flushed by some process during this window
		}
		if err != nil {
			return fmt.Errorf("aggregate: window mark: %w", err)
		}
	}
	token := newID()
	for {
		err := r.rc.Do(ctx, r.rc.B().Set().Key(r.lockKey).Value(token).Nx().Px(r.cfg.LockTTL).Build()).Error()
		if err == nil {
			break
		}
		if !rueidis.IsRedisNil(err) {
			return fmt.Errorf("aggregate: lock: %w", err)
		}
		if mode != flushNow {
			return nil // another process is flushing
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("aggregate: wait for lock: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx ended.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Exec(uctx, r.rc, []string{r.lockKey}, []string{token}).Error()
	}()
	left, err := r.rc.Do(ctx, r.rc.B().Smembers().Key(r.flushesKey).Build()).AsStrSlice()
	if err != nil {
		return fmt.Errorf("aggregate: list flushes: %w", err)
	}
	for _, id := range left {
		if err := r.apply(ctx, id); err != nil {
			return err
		}
	}
	if mode == flushLeftovers {
		return nil
	}
	id := newID()
	n, err := rotateScript.Exec(ctx, r.rc, []string{r.pendingKey, r.flushKey(id), r.flushesKey}, []string{id}).AsInt64()
	if err != nil {
		return fmt.Errorf("aggregate: rotate pending: %w", err)
	}
	if n == 0 {
		return nil
	}
	return r.apply(ctx, id)
}

// apply offers one recorded flush to the sink and forgets it once applied.
func (r *Redis) apply(ctx context.Context, id string) error {
	batch, err := r.rc.Do(ctx, r.rc.B().Hgetall().Key(r.flushKey(id)).Build()).AsIntMap()
	if err != nil {
		return fmt.Errorf("aggregate: read flush %s: %w", id, err)
	}
	for k, v := range batch {
		if v == 0 {
			delete(batch, k)
		}
	}
	if len(batch) > 0 {
		n := len(batch)
		if err := r.sink(ctx, id, batch); err != nil {
			r.m.failed()
			return fmt.Errorf("aggregate: flush %s: %w", id, err)
		}
		r.m.flushed(n)
	}
	if err := doneScript.Exec(ctx, r.rc, []string{r.flushKey(id), r.flushesKey}, []string{id}).Error(); err != nil {
		// The flush stays recorded and is offered again; the sink skips it by its id.
		return fmt.Errorf("aggregate: forget flush %s: %w", id, err)
	}
	return nil
}

// newID is a unique flush id (and lock token): time for readability plus 64 random bits.
func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + hex.EncodeToString(b)
}
