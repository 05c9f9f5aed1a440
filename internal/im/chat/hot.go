package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/zhibo-live/zhibo/internal/im/hotlist"
)

// The hot tier: each user's newest conversations and unread total in Redis, kept there for a
// day after their last change, and every message's content for as long.
//
// Keys of one user share a hash tag ({uid}), so a user's scripts run on one Redis Cluster slot:
//
//	im:{uid}:c  hash, peer → "version,last_id,mtime,unread,read_id,muted,stranger" (or "version" alone
//	            for a conversation trimmed out of the newest: its version still guards it)
//	im:{uid}:z  sorted set of the newest hot_conversations peers by mtime (peers zero-padded,
//	            so equal times order by peer)
//	im:{uid}:u  "version,total"
//	im:{uid}:w  the tier holds the user: "1" every conversation, "0" the newest ones only,
//	            "w" being built (written to, not read)
//	im:m:{id}   a message's JSON
//
// Every state carries the version the store counts up on each change, and a state is written
// only over an older version (a Lua compare-and-set), so the change stream may deliver events
// late, twice or out of order and the tier still ends on the newest state. A user's entries
// are written only while the user is in the tier (w exists); a user enters it by warming:
// marked "w", the store's newest conversations written through the same compare-and-set, then
// marked readable. Events that arrive meanwhile are applied, and the store snapshot does not
// overwrite them.
type hotTier struct {
	c      rueidis.Client
	prefix string
	cap    int           // conversations kept per user
	ttl    time.Duration // a user's keys live this long after their last write
	// timeline holds each user's newest timeline entries (timeline.go).
	timeline *hotlist.Lists
}

// newHotTier is the tier on c, keys under prefix: conversations newest convs per user,
// timeline entries newest entries per user, each kept ttl after its last write.
func newHotTier(c rueidis.Client, prefix string, convs, entries int, ttl time.Duration) *hotTier {
	return &hotTier{c: c, prefix: prefix, cap: convs, ttl: ttl, timeline: &hotlist.Lists{C: c, Cap: entries, TTL: ttl}}
}

// peerWidth is the zero-padded width of a peer in the sorted set: the digits of MaxInt64.
const peerWidth = hotlist.Width

func padPeer(p int64) string { return hotlist.Pad(p) }

func (h *hotTier) key(uid int64, kind string) string {
	return h.prefix + "im:{" + strconv.FormatInt(uid, 10) + "}:" + kind
}

func (h *hotTier) msgKey(id int64) string { return h.prefix + "im:m:" + strconv.FormatInt(id, 10) }

// setConv writes a conversation state over an older version (KEYS c, z, w; ARGV peer,
// version, state, mtime, cap, ttl ms, force). Without force it writes only while the user is
// in the tier. Past cap conversations the oldest leave the sorted set and keep their version
// only; the user is then marked as holding the newest ones only.
var setConv = rueidis.NewLuaScript(`
local mark = redis.call('GET', KEYS[3])
if ARGV[7] ~= '1' and not mark then return -1 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(string.match(cur, '^(%d+)')) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
local cap = tonumber(ARGV[5])
if n > cap then
  local old = redis.call('ZRANGE', KEYS[2], 0, n - cap - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - cap - 1)
  for _, p in ipairs(old) do
    local st = redis.call('HGET', KEYS[1], p)
    if st then redis.call('HSET', KEYS[1], p, string.match(st, '^(%d+)')) end
  end
  if mark == '1' then redis.call('SET', KEYS[3], '0', 'KEEPTTL') end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if mark then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
return 1`)

// setTotal writes a user's total over an older version (KEYS u, w; ARGV version, total, ttl
// ms, force): -1 when the user is not in the tier (and not forced).
var setTotal = rueidis.NewLuaScript(`
if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.match(cur, '^(%d+)')) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ',' .. ARGV[2], 'PX', ARGV[3])
return 1`)

// page reads a page of the list (KEYS c, z, w; ARGV max mtime, max padded peer, limit):
// nil unless the user is readable in the tier, else {mark, peer, state, peer, state, …}: the
// conversations ordered before (mtime, peer), newest first.
var page = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[3])
if not mark or mark == 'w' then return nil end
local limit = tonumber(ARGV[3])
local out = {}
for _, p in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1])) do
  if p < ARGV[2] and #out < limit then out[#out + 1] = p end
end
if #out < limit then
  for _, p in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '-inf', 'LIMIT', 0, limit - #out)) do
    out[#out + 1] = p
  end
end
local res = {mark}
if #out > 0 then
  local sts = redis.call('HMGET', KEYS[1], unpack(out))
  for i, p in ipairs(out) do
    res[#res + 1] = p
    res[#res + 1] = sts[i] or ''
  end
end
return res`)

// total reads a readable user's total (KEYS u, w): nil when not readable.
var total = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
return redis.call('GET', KEYS[1]) or '0,0'`)

func (h *hotTier) ttlMs() string { return strconv.FormatInt(h.ttl.Milliseconds(), 10) }

func encodeConv(c ConvState) string {
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d,%d", c.Version, c.LastID, c.Mtime, c.Unread, c.ReadID, b(c.Muted), b(c.Stranger))
}

// decodeConv reads encodeConv's state; any other (an older layout) is false: the store answers.
func decodeConv(peer int64, s string) (Conversation, bool) {
	f := strings.Split(s, ",")
	if len(f) != 7 {
		return Conversation{}, false
	}
	var v [7]int64
	for i, x := range f {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return Conversation{}, false
		}
		v[i] = n
	}
	return Conversation{Peer: peer, LastID: v[1], Mtime: v[2], Unread: v[3], ReadID: v[4], Muted: v[5] == 1, Stranger: v[6] == 1}, true
}

func (h *hotTier) convExec(c ConvState, force bool) rueidis.LuaExec {
	f := "0"
	if force {
		f = "1"
	}
	return rueidis.LuaExec{
		Keys: []string{h.key(c.UID, "c"), h.key(c.UID, "z"), h.key(c.UID, "w")},
		Args: []string{padPeer(c.Peer), strconv.FormatInt(c.Version, 10), encodeConv(c), strconv.FormatInt(c.Mtime, 10),
			strconv.Itoa(h.cap), h.ttlMs(), f},
	}
}

func (h *hotTier) totalExec(t Total, force bool) rueidis.LuaExec {
	f := "0"
	if force {
		f = "1"
	}
	return rueidis.LuaExec{Keys: []string{h.key(t.UID, "u"), h.key(t.UID, "w")},
		Args: []string{strconv.FormatInt(t.Version, 10), strconv.FormatInt(t.Total, 10), h.ttlMs(), f}}
}

// apply writes changed states of users in the tier. It returns the users whose total it
// could not write because they are not in the tier (candidates for warming).
func (h *hotTier) apply(ctx context.Context, convs []ConvState, totals []Total) (cold []int64, err error) {
	if len(convs) > 0 {
		execs := make([]rueidis.LuaExec, len(convs))
		for i, c := range convs {
			execs[i] = h.convExec(c, false)
		}
		for _, r := range setConv.ExecMulti(ctx, h.c, execs...) {
			if e := r.Error(); e != nil {
				return nil, fmt.Errorf("hot tier: conversation: %w", e)
			}
		}
	}
	if len(totals) > 0 {
		execs := make([]rueidis.LuaExec, len(totals))
		for i, t := range totals {
			execs[i] = h.totalExec(t, false)
		}
		for i, r := range setTotal.ExecMulti(ctx, h.c, execs...) {
			n, e := r.AsInt64()
			if e != nil {
				return nil, fmt.Errorf("hot tier: total: %w", e)
			}
			if n < 0 {
				cold = append(cold, totals[i].UID)
			}
		}
	}
	return cold, nil
}

// warm puts uid in the tier from the store (see hotTier), conversations and timeline.
func (h *hotTier) warm(ctx context.Context, store Store, uid int64) error {
	mark := h.key(uid, "w")
	if err := h.c.Do(ctx, h.c.B().Set().Key(mark).Value("w").Px(h.ttl).Build()).Error(); err != nil {
		return fmt.Errorf("hot tier: warm: %w", err)
	}
	convs, t, err := store.Warm(ctx, uid, h.cap)
	if err != nil {
		_ = h.c.Do(ctx, h.c.B().Del().Key(mark).Build()).Error()
		return err
	}
	execs := make([]rueidis.LuaExec, len(convs))
	for i, c := range convs {
		execs[i] = h.convExec(c, true)
	}
	for _, r := range setConv.ExecMulti(ctx, h.c, execs...) {
		if e := r.Error(); e != nil {
			return fmt.Errorf("hot tier: warm: %w", e)
		}
	}
	if err := setTotal.Exec(ctx, h.c, h.totalExec(t, true).Keys, h.totalExec(t, true).Args).Error(); err != nil {
		return fmt.Errorf("hot tier: warm: %w", err)
	}
	done := "1"
	if len(convs) >= h.cap {
		done = "0"
	}
	// Readable now, unless trimming already marked it partial meanwhile (then it stays so).
	if err := h.c.Do(ctx, h.c.B().Set().Key(mark).Value(done).Px(h.ttl).Build()).Error(); err != nil {
		return fmt.Errorf("hot tier: warm: %w", err)
	}
	return h.warmTimeline(ctx, store, uid)
}

// errCold is a read the tier cannot answer because the user is not in it (a warm puts them
// there); errDeep one that reaches past what it holds of the user (the store answers, and a
// warm would change nothing).
var (
	errCold = hotlist.ErrCold
	errDeep = hotlist.ErrDeep
)

// page returns a page of uid's list after c, or errCold or errDeep.
func (h *hotTier) page(ctx context.Context, uid int64, c Cursor, limit int) ([]Conversation, error) {
	maxT, maxP := "9223372036854775807", strings.Repeat("9", peerWidth+1)
	if c.Mtime != 0 || c.Peer != 0 {
		maxT, maxP = strconv.FormatInt(c.Mtime, 10), padPeer(c.Peer)
	}
	res := page.Exec(ctx, h.c, []string{h.key(uid, "c"), h.key(uid, "z"), h.key(uid, "w")},
		[]string{maxT, maxP, strconv.Itoa(limit)})
	if rueidis.IsRedisNil(res.Error()) {
		return nil, errCold
	}
	arr, err := res.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("hot tier: page: %w", err)
	}
	out := make([]Conversation, 0, (len(arr)-1)/2)
	for i := 1; i+1 < len(arr); i += 2 {
		peer, err := strconv.ParseInt(arr[i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("hot tier: page: bad peer %q", arr[i])
		}
		cv, ok := decodeConv(peer, arr[i+1])
		if !ok { // a member without its state: the tier is inconsistent, let the store answer
			return nil, errCold
		}
		out = append(out, cv)
	}
	// Holding only the newest conversations, the tier answers a page it fills.
	if arr[0] != "1" && len(out) < limit {
		return nil, errDeep
	}
	return out, nil
}

// unread returns uid's total, or errCold.
func (h *hotTier) unread(ctx context.Context, uid int64) (int64, error) {
	v, err := total.Exec(ctx, h.c, []string{h.key(uid, "u"), h.key(uid, "w")}, nil).ToString()
	if rueidis.IsRedisNil(err) {
		return 0, errCold
	}
	if err != nil {
		return 0, fmt.Errorf("hot tier: unread: %w", err)
	}
	_, n, ok := strings.Cut(v, ",")
	t, perr := strconv.ParseInt(n, 10, 64)
	if !ok || perr != nil {
		return 0, errCold
	}
	return t, nil
}

// putMessages keeps messages' content for the tier's time (a content kept already stays).
func (h *hotTier) putMessages(ctx context.Context, msgs []Message) error {
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = h.msgKey(m.ID)
	}
	return hotlist.PutJSON(ctx, h.c, keys, msgs, h.ttl, false)
}

// recalled replaces a message's content with its recalled form; a put of the original
// delivered later (a batch stored again) does not overwrite it.
func (h *hotTier) recalled(ctx context.Context, m Message) error {
	return hotlist.PutJSON(ctx, h.c, []string{h.msgKey(m.ID)}, []Message{m}, h.ttl, true)
}

// messages returns the messages of ids the tier holds.
func (h *hotTier) messages(ctx context.Context, ids []int64) (map[int64]Message, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = h.msgKey(id)
	}
	got, err := hotlist.GetJSON(ctx, h.c, keys, func(i int, m Message) bool { return m.ID == ids[i] })
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Message, len(got))
	for _, m := range got {
		out[m.ID] = m
	}
	return out, nil
}

// conv reads one conversation state (KEYS c, w; ARGV padded peer): nil unless the user is
// readable in the tier; "" when the tier holds every conversation of the user and not this one.
var conv = rueidis.NewLuaScriptReadOnly(`
local mark = redis.call('GET', KEYS[2])
if not mark or mark == 'w' then return nil end
local st = redis.call('HGET', KEYS[1], ARGV[1])
if st then return st end
if mark == '1' then return '' end
return nil`)

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
