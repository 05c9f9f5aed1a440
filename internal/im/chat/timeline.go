package chat

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/redis/rueidis"
)

// The timeline tier: each user's newest hot_timeline entries of their timeline (a message id
// and the peer) in Redis, next to the conversations (hot.go), so a chat's history and a
// client's sync are answered from memory while they fall within it. Keys, in the user's hash
// tag like the conversations':
//
//	im:{uid}:t   sorted set, every score 0, members pad(id)+pad(peer): lexicographic order is
//	             id order, and one entry's member is fixed by its id and peer
//	im:{uid}:tf  the tier holds uid's timeline: "w" being built (written to, not read), else
//	             the floor, a padded id: every entry of uid with an id above it is in t (the
//	             newest entry left out, or "0…0": every entry)
//	im:{uid}:tp  while being built, the floor trimming has raised meanwhile
//	im:{uid}:td  ids uid deleted for themself lately: an event arriving late, or a snapshot read
//	             before the delete, does not bring them back
//
// The entries come from the change stream (the store writer publishes each batch's, twice or
// late changes nothing: a member is added once and an entry below the floor is not added) and
// from warming, which marks tf "w", reads the store's newest entries and then sets the floor.
// Past the cap the oldest entries leave and the floor rises to the newest of them. A read the
// entries above the floor cannot answer whole (a sync from below the floor, a history page that
// reaches below it) goes to the store.

// Entry is one entry of a user's timeline.
type Entry struct {
	UID  int64 `json:"u"`
	ID   int64 `json:"i"`
	Peer int64 `json:"p"`
}

// entries returns the timeline entries msgs give: one in each side's timeline.
func entries(msgs []Message) []Entry {
	out := make([]Entry, 0, 2*len(msgs))
	for _, m := range msgs {
		out = append(out, Entry{UID: m.From, ID: m.ID, Peer: m.To}, Entry{UID: m.To, ID: m.ID, Peer: m.From})
	}
	return out
}

// padID is an id zero-padded to the width of MaxInt64, so ids compare as strings (Lua's numbers
// are doubles and lose the low bits of a message id).
func padID(id int64) string { return padPeer(id) }

var floorAll = padID(0)

func member(id, peer int64) string { return padID(id) + padPeer(peer) }

// parseMember reads a member back into its id and peer.
func parseMember(m string) (id, peer int64, err error) {
	if len(m) != 2*peerWidth {
		return 0, 0, fmt.Errorf("hot tier: bad timeline member %q", m)
	}
	if id, err = strconv.ParseInt(m[:peerWidth], 10, 64); err == nil {
		peer, err = strconv.ParseInt(m[peerWidth:], 10, 64)
	}
	return id, peer, err
}

// addEntries adds a user's entries (KEYS t, tf, tp, td; ARGV cap, ttl ms, member…) while the
// tier holds or builds the user's timeline (-1 when it does neither): none at or below the
// floor, none deleted. Past cap the oldest leave and the floor (or, while building, the
// pending floor) rises to the newest of those.
var addEntries = rueidis.NewLuaScript(`
local mark = redis.call('GET', KEYS[2])
if not mark then return -1 end
local floor = '0000000000000000000'
if mark ~= 'w' then floor = mark end
for i = 3, #ARGV do
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

// finishTimeline makes a built timeline readable (KEYS tf, tp; ARGV floor, ttl ms): the floor is
// the snapshot's or the one trimming raised meanwhile, whichever is higher. 0 when the build
// was superseded (tf is no longer "w": another build finished first, and its floor stands).
var finishTimeline = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= 'w' then return 0 end
local f = ARGV[1]
local p = redis.call('GET', KEYS[2])
if p and p > f then f = p end
redis.call('SET', KEYS[1], f, 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1`)

// dropEntry removes an id from a user's timeline and remembers it deleted (KEYS t, td; ARGV
// padded id, ttl ms).
var dropEntry = rueidis.NewLuaScript(`
for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '(' .. ARGV[1] .. ':')) do
  redis.call('ZREM', KEYS[1], m)
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`)

// since reads up to limit entries after a padded id, oldest first (KEYS t, tf; ARGV after,
// limit): nil when the tier does not hold the user's timeline, 0 when the floor is above it.
var since = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
if mark > ARGV[1] then return 0 end
return redis.call('ZRANGEBYLEX', KEYS[1], '(' .. ARGV[1] .. ':', '+', 'LIMIT', 0, tonumber(ARGV[2]))`)

// history reads up to limit entries with a peer before a padded id, newest first (KEYS t, tf;
// ARGV before, padded peer, limit): nil when the tier does not hold the user's timeline, 0
// when it does not hold the whole page (it found fewer than limit entries above the floor).
var history = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
local limit = tonumber(ARGV[3])
local out = {}
for _, m in ipairs(redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. ARGV[1], '-')) do
  if string.sub(m, 20) == ARGV[2] then
    out[#out + 1] = m
    if #out >= limit then return out end
  end
end
if mark == '0000000000000000000' then return out end
return 0`)

// conv reads one conversation state (KEYS c, w; ARGV padded peer): nil unless the user is
// readable in the tier; "" when the tier holds every conversation of the user and not this one.
var conv = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
local st = redis.call('HGET', KEYS[1], ARGV[1])
if st then return st end
if mark == '1' then return '' end
return nil`)

func (h *hotTier) timelineKeys(uid int64) []string {
	return []string{h.key(uid, "t"), h.key(uid, "tf"), h.key(uid, "tp"), h.key(uid, "td")}
}

func (h *hotTier) addExec(uid int64, members []string) rueidis.LuaExec {
	return rueidis.LuaExec{Keys: h.timelineKeys(uid),
		Args: append([]string{strconv.Itoa(h.timelineCap), h.ttlMs()}, members...)}
}

// addEntries writes entries of users whose timeline the tier holds or builds.
func (h *hotTier) addEntries(ctx context.Context, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	var order []int64
	byUser := map[int64][]string{}
	for _, e := range es {
		if _, ok := byUser[e.UID]; !ok {
			order = append(order, e.UID)
		}
		byUser[e.UID] = append(byUser[e.UID], member(e.ID, e.Peer))
	}
	execs := make([]rueidis.LuaExec, len(order))
	for i, uid := range order {
		execs[i] = h.addExec(uid, byUser[uid])
	}
	for _, r := range addEntries.ExecMulti(ctx, h.c, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("hot tier: timeline: %w", err)
		}
	}
	return nil
}

// warmTimeline builds uid's timeline in the tier from the store's newest entries.
func (h *hotTier) warmTimeline(ctx context.Context, store Store, uid int64) error {
	keys := h.timelineKeys(uid)
	cmds := rueidis.Commands{
		h.c.B().Set().Key(keys[1]).Value("w").Px(h.ttl).Build(),
		h.c.B().Del().Key(keys[2]).Build(),
	}
	for _, r := range h.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("hot tier: warm timeline: %w", err)
		}
	}
	es, err := store.Recent(ctx, uid, h.timelineCap+1)
	if err != nil {
		_ = h.c.Do(ctx, h.c.B().Del().Key(keys[1]).Build()).Error()
		return err
	}
	floor := floorAll
	if len(es) > h.timelineCap { // newest first: the one past the cap is the newest left out
		floor = padID(es[h.timelineCap].ID)
		es = es[:h.timelineCap]
	}
	members := make([]string, len(es))
	for i, e := range es {
		members[i] = member(e.ID, e.Peer)
	}
	x := h.addExec(uid, members)
	if err := addEntries.Exec(ctx, h.c, x.Keys, x.Args).Error(); err != nil {
		return fmt.Errorf("hot tier: warm timeline: %w", err)
	}
	if err := finishTimeline.Exec(ctx, h.c, keys[1:3], []string{floor, h.ttlMs()}).Error(); err != nil {
		return fmt.Errorf("hot tier: warm timeline: %w", err)
	}
	return nil
}

// dropEntry takes id out of uid's timeline (a delete for uid only).
func (h *hotTier) dropEntry(ctx context.Context, uid, id int64) error {
	return dropEntry.Exec(ctx, h.c, []string{h.key(uid, "t"), h.key(uid, "td")}, []string{padID(id), h.ttlMs()}).Error()
}

// memberIDs reads the ids of a script's members: errCold for a nil answer, errDeep for 0.
func memberIDs(res rueidis.RedisResult, what string) ([]int64, error) {
	if rueidis.IsRedisNil(res.Error()) {
		return nil, errCold
	}
	if _, err := res.AsInt64(); err == nil {
		return nil, errDeep
	}
	ms, err := res.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("hot tier: %s: %w", what, err)
	}
	out := make([]int64, len(ms))
	for i, m := range ms {
		if out[i], _, err = parseMember(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// since returns the ids of up to limit entries of uid after after, oldest first, or errCold
// or errDeep.
func (h *hotTier) since(ctx context.Context, uid, after int64, limit int) ([]int64, error) {
	return memberIDs(since.Exec(ctx, h.c, h.timelineKeys(uid)[:2], []string{padID(after), strconv.Itoa(limit)}), "sync")
}

// history returns the ids of up to limit entries of uid's chat with peer before before (0 = the
// newest), newest first, or errCold or errDeep.
func (h *hotTier) history(ctx context.Context, uid, peer, before int64, limit int) ([]int64, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	return memberIDs(history.Exec(ctx, h.c, h.timelineKeys(uid)[:2], []string{padID(before), padPeer(peer), strconv.Itoa(limit)}), "history")
}

// conversation returns uid's conversation with peer (false: there is none), or errCold.
func (h *hotTier) conversation(ctx context.Context, uid, peer int64) (Conversation, bool, error) {
	st, err := conv.Exec(ctx, h.c, []string{h.key(uid, "c"), h.key(uid, "w")}, []string{padPeer(peer)}).ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return Conversation{}, false, errCold
	case err != nil:
		return Conversation{}, false, fmt.Errorf("hot tier: conversation: %w", err)
	case st == "":
		return Conversation{}, false, nil
	}
	c, ok := decodeConv(peer, st)
	if !ok { // trimmed out of the newest: only its version is kept
		return Conversation{}, false, errCold
	}
	return c, true, nil
}
