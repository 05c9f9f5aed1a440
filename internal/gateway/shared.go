package gateway

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// gcra is the generic cell rate algorithm in one script, so a shared rule costs one round trip
// and no two gateways can interleave between its read and its write. The bucket is one key
// holding the theoretical arrival time (TAT, µs, by the Redis server's clock, so the gateways'
// clocks do not matter). A request is allowed when TAT + interval − now ≤ burst × interval;
// the key expires when it would be full again.
//
// KEYS[1] bucket; ARGV[1] interval (µs between requests at the rate); ARGV[2] burst.
// Returns {1, 0} when allowed, {0, µs until it would be}.
const gcra = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > tolerance then
  return {0, new_tat - tolerance - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
`

// sharedRetry is how long the shared limits count locally after Redis failed to answer, before
// asking it again: an outage costs one timeout per this period, not one per request.
const sharedRetry = time.Second

// sharedLimiter counts the rules marked shared in Redis, for every gateway replica together.
// When Redis does not answer within timeout it falls back to the rule's local buckets (each
// process then lets the rule's rate through on its own), counts every such decision, and logs
// the start and the end of each outage once.
type sharedLimiter struct {
	client    rueidis.Client
	prefix    string
	timeout   time.Duration
	script    *rueidis.Lua
	fallbacks prometheus.Counter
	log       *slog.Logger
	retryAt   atomic.Int64 // unix ns before which Redis is not asked
	down      atomic.Bool  // in an outage (logged)
}

func newSharedLimiter(c rueidis.Client, prefix string, timeout time.Duration, fallbacks prometheus.Counter, log *slog.Logger) *sharedLimiter {
	return &sharedLimiter{client: c, prefix: prefix + "gateway:limit:", timeout: timeout, script: rueidis.NewLuaScript(gcra),
		fallbacks: fallbacks, log: log}
}

// allow takes one token of rule's bucket for key, in Redis or, failing that, locally.
func (s *sharedLimiter) allow(ctx context.Context, rule *liveRule, key string) (bool, time.Duration) {
	now := time.Now()
	if s.client == nil || now.UnixNano() < s.retryAt.Load() {
		s.fallbacks.Inc()
		return rule.local.Allow(key, now)
	}
	// Not the request's own context: a client hanging up is no Redis outage.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	interval := max(1, int64(1e6/rule.Rate))
	res, err := s.script.Exec(ctx, s.client, []string{s.prefix + rule.Name + ":" + key},
		[]string{strconv.FormatInt(interval, 10), strconv.Itoa(rule.Burst)}).AsIntSlice()
	if err == nil && len(res) != 2 {
		err = errBadScriptReply
	}
	if err != nil {
		s.retryAt.Store(now.Add(sharedRetry).UnixNano())
		if s.down.CompareAndSwap(false, true) {
			s.log.Warn("shared limits: Redis did not answer, each gateway counts the shared rules alone until it does",
				"err", err, "retry_every", sharedRetry)
		}
		s.fallbacks.Inc()
		return rule.local.Allow(key, now)
	}
	if s.down.CompareAndSwap(true, false) {
		s.log.Info("shared limits: Redis answers again, shared rules are counted there")
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond
}
