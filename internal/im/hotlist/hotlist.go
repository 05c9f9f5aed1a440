// Package hotlist keeps bounded lists of ids in Redis, each with a floor below which it does
// not answer: a user's timeline (im-chat) and a group's messages (im-group) in the IM's hot
// tier. A list holds the newest Cap items (an id and a tag: the peer of a timeline entry, the
// sender of a group message) and answers a read only when the items above its floor answer it
// whole; any other read is the store's (ErrCold, ErrDeep).
//
// Keys, under a base the caller gives (its hash tag keeps one list's keys on one Redis Cluster
// slot):
//
//	base+"t"   sorted set, every score 0, members pad(id)+pad(tag): lexicographic order is id
//	           order, and an item's member is fixed by its id and tag
//	base+"tf"  the list is held: "w" being built (written to, not read), else the floor, a padded
//	           id: every item with an id above it is in t (the newest item left out, or
//	           "0…0": every item)
//	base+"tp"  while being built, the floor trimming raised meanwhile
//	base+"td"  ids dropped lately: a late or repeated add does not bring them back
//
// Adds are idempotent (a member is added once, never at or below the floor), so a list fed by
// a queue that delivers late, twice or out of order ends the same. Past Cap the oldest leave
// and the floor rises to the newest of them. A list is held once built from a store snapshot
// (Build), or, for lists fed from the start (Add with create), once its first items are
// added: its floor is then just below the lowest of them.
package hotlist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Lists is a family of lists: their bound and their time in Redis after their last add.
type Lists struct {
	C   rueidis.Client
	Cap int
	TTL time.Duration
}

// Item is one item of a list.
type Item struct {
	ID  int64
	Tag int64
}

// ErrCold is a read of a list that is not held (Build or Add puts it there); ErrDeep one that
// reaches past what a held list keeps (the store answers, and building it again would change
// nothing).
var (
	ErrCold = errors.New("hot tier: not held")
	ErrDeep = errors.New("hot tier: past what is held")
)

// Where a read was answered from, as responses and metrics name it: the hot tier (which may
// trail the store by the delay of what feeds it) or the store.
const (
	SourceHot   = "hot"
	SourceStore = "store"
)

// Width is the zero-padded width of an id in a member: the digits of MaxInt64.
const Width = 19

// Pad is id zero-padded to Width, so ids compare as strings (Lua's numbers are doubles and
// lose the low bits of a 63-bit id).
func Pad(id int64) string { return fmt.Sprintf("%0*d", Width, id) }

var floorAll = Pad(0)

func member(it Item) string { return Pad(it.ID) + Pad(it.Tag) }

func parseMember(m string) (Item, error) {
	if len(m) != 2*Width {
		return Item{}, fmt.Errorf("hot tier: bad list member %q", m)
	}
	id, err := strconv.ParseInt(m[:Width], 10, 64)
	if err != nil {
		return Item{}, err
	}
	tag, err := strconv.ParseInt(m[Width:], 10, 64)
	return Item{ID: id, Tag: tag}, err
}

// add adds a list's members (KEYS t, tf, tp, td; ARGV cap, ttl ms, create, member…). A list
// neither held nor being built is left alone (-1), unless create is a floor (a padded id, just
// below the lowest member added): it is then held from there. None at or below the floor, none
// dropped. Past cap the
// oldest leave and the floor (or, while building, the pending floor) rises to the newest of
// them.
var add = rueidis.NewLuaScript(`
local mark = redis.call('GET', KEYS[2])
if not mark then
  if ARGV[3] == '' then return -1 end
  mark = ARGV[3]
  redis.call('SET', KEYS[2], mark, 'PX', ARGV[2])
end
local floor = '0000000000000000000'
if mark ~= 'w' then floor = mark end
for i = 4, #ARGV do
  local id = string.sub(ARGV[i], 1, 19)
  if id > floor and redis.call('SISMEMBER', KEYS[4], id) == 0 then
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
  end
end
local n = redis.call('ZCARD', KEYS[1])
local cap = tonumber(ARGV[1])
if n > cap then
  local low = string.sub(redis.call('ZRANGE', KEYS[1], n - cap - 1, n - cap - 1)[1], 1, 19)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  if mark == 'w' then
    local p = redis.call('GET', KEYS[3])
    if not p or low > p then redis.call('SET', KEYS[3], low, 'PX', ARGV[2]) end
  elseif low > mark then
    redis.call('SET', KEYS[2], low, 'KEEPTTL')
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`)

// finish makes a built list readable (KEYS tf, tp; ARGV floor, ttl ms): the floor is the
// snapshot's or the one trimming raised meanwhile, whichever is higher. 0 when the build was
// superseded (tf is no longer "w": another build finished first, and its floor stands).
var finish = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= 'w' then return 0 end
local f = ARGV[1]
local p = redis.call('GET', KEYS[2])
if p and p > f then f = p end
redis.call('SET', KEYS[1], f, 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1`)

// drop removes an id from a list and remembers it dropped (KEYS t, td; ARGV padded id, ttl ms).
var drop = rueidis.NewLuaScript(`
for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '(' .. ARGV[1] .. ':')) do
  redis.call('ZREM', KEYS[1], m)
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`)

// since reads up to limit members after a padded id, oldest first (KEYS t, tf; ARGV after,
// limit): nil when the list is not held, 0 when its floor is above after.
var since = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
if mark > ARGV[1] then return 0 end
return redis.call('ZRANGEBYLEX', KEYS[1], '(' .. ARGV[1] .. ':', '+', 'LIMIT', 0, tonumber(ARGV[2]))`)

// before reads up to limit members between two padded ids, newest first, with a tag or any
// (KEYS t, tf; ARGV before, after, padded tag or "", limit): nil when the list is not held, 0
// when it does not hold the whole page (it found fewer than limit members, and items between
// after and its floor may be missing).
var before = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
local limit = tonumber(ARGV[4])
local out = {}
for _, m in ipairs(redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. ARGV[1], '(' .. ARGV[2] .. ':')) do
  if ARGV[3] == '' or string.sub(m, 20) == ARGV[3] then
    out[#out + 1] = m
    if #out >= limit then return out end
  end
end
if mark <= ARGV[2] then return out end
return 0`)

func keys(base string) []string { return []string{base + "t", base + "tf", base + "tp", base + "td"} }

func (l *Lists) ttlMs() string { return strconv.FormatInt(l.TTL.Milliseconds(), 10) }

func (l *Lists) addExec(base string, items []Item, create bool) rueidis.LuaExec {
	args := make([]string, 3, 3+len(items))
	args[0], args[1] = strconv.Itoa(l.Cap), l.ttlMs()
	low := int64(math.MaxInt64)
	for _, it := range items {
		args = append(args, member(it))
		low = min(low, it.ID)
	}
	if create {
		args[2] = Pad(max(low-1, 0))
	}
	return rueidis.LuaExec{Keys: keys(base), Args: args}
}

// Add adds items to lists by base, in one round trip. Lists not held are left alone, unless
// create: they are then held from their first items on.
func (l *Lists) Add(ctx context.Context, items map[string][]Item, create bool) error {
	if len(items) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, 0, len(items))
	for base, its := range items {
		if len(its) > 0 {
			execs = append(execs, l.addExec(base, its, create))
		}
	}
	for _, r := range add.ExecMulti(ctx, l.C, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("hot tier: list: %w", err)
		}
	}
	return nil
}

// Build makes the list at base held from a store snapshot: newest returns up to limit items,
// newest first, read after the list was marked as being built (adds meanwhile are kept).
func (l *Lists) Build(ctx context.Context, base string, newest func(ctx context.Context, limit int) ([]Item, error)) error {
	ks := keys(base)
	cmds := rueidis.Commands{
		l.C.B().Set().Key(ks[1]).Value("w").Px(l.TTL).Build(),
		l.C.B().Del().Key(ks[2]).Build(),
	}
	for _, r := range l.C.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("hot tier: build list: %w", err)
		}
	}
	its, err := newest(ctx, l.Cap+1)
	if err != nil {
		_ = l.C.Do(ctx, l.C.B().Del().Key(ks[1]).Build()).Error()
		return err
	}
	floor := floorAll
	if len(its) > l.Cap { // newest first: the one past the cap is the newest left out
		floor = Pad(its[l.Cap].ID)
		its = its[:l.Cap]
	}
	if len(its) > 0 {
		x := l.addExec(base, its, false)
		if err := add.Exec(ctx, l.C, x.Keys, x.Args).Error(); err != nil {
			return fmt.Errorf("hot tier: build list: %w", err)
		}
	}
	if err := finish.Exec(ctx, l.C, ks[1:3], []string{floor, l.ttlMs()}).Error(); err != nil {
		return fmt.Errorf("hot tier: build list: %w", err)
	}
	return nil
}

// Drop takes id out of the list at base, for good.
func (l *Lists) Drop(ctx context.Context, base string, id int64) error {
	ks := keys(base)
	return drop.Exec(ctx, l.C, []string{ks[0], ks[3]}, []string{Pad(id), l.ttlMs()}).Error()
}

// ids reads a read script's members: ErrCold for a nil answer, ErrDeep for 0.
func ids(res rueidis.RedisResult) ([]int64, error) {
	if rueidis.IsRedisNil(res.Error()) {
		return nil, ErrCold
	}
	if _, err := res.AsInt64(); err == nil {
		return nil, ErrDeep
	}
	ms, err := res.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("hot tier: list: %w", err)
	}
	out := make([]int64, len(ms))
	for i, m := range ms {
		it, err := parseMember(m)
		if err != nil {
			return nil, err
		}
		out[i] = it.ID
	}
	return out, nil
}

// Since returns the ids of up to limit items after after, oldest first, or ErrCold or ErrDeep.
func (l *Lists) Since(ctx context.Context, base string, after int64, limit int) ([]int64, error) {
	return ids(since.Exec(ctx, l.C, keys(base)[:2], []string{Pad(after), strconv.Itoa(limit)}))
}

// Before returns the ids of up to limit items with ids between after and before (exclusive;
// before 0 = no bound) and tag (0 = any), newest first, or ErrCold or ErrDeep.
func (l *Lists) Before(ctx context.Context, base string, tag, after, beforeID int64, limit int) ([]int64, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	t := ""
	if tag != 0 {
		t = Pad(tag)
	}
	return ids(before.Exec(ctx, l.C, keys(base)[:2], []string{Pad(beforeID), Pad(max(after, 0)), t, strconv.Itoa(limit)}))
}

// PutJSON keeps values as JSON under keys for ttl, in one round trip. Without overwrite a key
// that holds a value keeps it: a message's content is put once, and only a change of it (a
// recall) overwrites it, so a put delivered late cannot bring back what the change replaced.
func PutJSON[T any](ctx context.Context, c rueidis.Client, keys []string, vals []T, ttl time.Duration, overwrite bool) error {
	cmds := make(rueidis.Commands, 0, len(vals))
	for i, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if overwrite {
			cmds = append(cmds, c.B().Set().Key(keys[i]).Value(rueidis.BinaryString(b)).Px(ttl).Build())
		} else {
			cmds = append(cmds, c.B().Set().Key(keys[i]).Value(rueidis.BinaryString(b)).Nx().Px(ttl).Build())
		}
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) { // nil: kept as it was
			return fmt.Errorf("hot tier: put: %w", err)
		}
	}
	return nil
}

// GetJSON reads the values kept under keys: one MGET on a single Redis (per slot on a
// cluster). A key missing, or holding what does not decode, or what ok refuses, is left out.
func GetJSON[T any](ctx context.Context, c rueidis.Client, keys []string, ok func(i int, v T) bool) (map[int]T, error) {
	got, err := rueidis.MGet(c, ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("hot tier: get: %w", err)
	}
	out := make(map[int]T, len(keys))
	for i, k := range keys {
		r, found := got[k]
		if !found || r.IsNil() {
			continue
		}
		b, err := r.AsBytes()
		if err != nil {
			return nil, fmt.Errorf("hot tier: get: %w", err)
		}
		var v T
		if json.Unmarshal(b, &v) == nil && ok(i, v) {
			out[i] = v
		}
	}
	return out, nil
}
