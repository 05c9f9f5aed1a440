package account

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// A process with account in another process (Remote) caches which user each token is, for
// peers.cache_ttl. With a queue it also watches the logouts broadcast (RevokedBucket), as the
// account processes do, and drops a revoked user's tokens from that cache as the change
// arrives: a token logged out anywhere is refused by every gateway of the cluster at once,
// not within the cache's TTL. While it watches, it keeps tokens for
// account.revocation_ttl_watched instead (the bound for a revocation whose broadcast was
// lost, as in the account processes), and never past a token's own expiry: a gateway of a
// split cluster asks account about an active user's token once, not every peers.cache_ttl.

// revokedSpec is the broadcast's bucket: a key outlives every token it can concern (the
// longest-lived token is issued just before the revocation). The account processes and the
// remotes ensure the same.
func revokedSpec(tokenTTL time.Duration) queue.KVSpec {
	return queue.KVSpec{Name: RevokedBucket, TTL: tokenTTL + time.Hour}
}

// WatchRevocations drops the cached tokens of each user the logouts broadcast names until ctx
// ends, and keeps tokens for watchedTTL meanwhile (0 = peers.cache_ttl still). ended closes
// when the watch stops (ctx ended, or it broke off): the tokens cached under the longer TTL
// are dropped then, and peers.cache_ttl applies again. tokenTTL is account.token_ttl, which
// sizes the bucket; seen, if not nil, is called for each revocation. A Remote without a
// cache has nothing to watch: ended is then nil.
func (r *Remote) WatchRevocations(ctx context.Context, q *queue.Queue, tokenTTL, watchedTTL time.Duration, log *slog.Logger, seen func()) (ended <-chan struct{}, err error) {
	if r.tokens == nil {
		return nil, nil
	}
	kv, err := q.EnsureKV(ctx, revokedSpec(tokenTTL))
	if err != nil {
		return nil, err
	}
	stopped, err := queue.WatchKVChanges(ctx, kv, "account revocations (remote)", log, decodeRevoked, func(uid int64) {
		r.dropUser(uid)
		if seen != nil {
			seen()
		}
	})
	if err != nil {
		return nil, err
	}
	r.watchedTTL.Store(int64(watchedTTL))
	done := make(chan struct{})
	go func() {
		<-stopped
		r.unwatched()
		close(done)
	}()
	return done, nil
}

// unwatched goes back to peers.cache_ttl, dropping what was kept longer.
func (r *Remote) unwatched() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchedTTL.Store(0)
	r.epoch++ // a Verify under way when the watch stopped is not cached for the longer TTL
	r.tokens.Purge()
}

// dropUser forgets uid's cached tokens; a Verify answered while it ran is not cached.
func (r *Remote) dropUser(uid int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch++
	for _, tok := range r.byUID.take(uid) {
		r.tokens.Remove(tok)
	}
}

// remember caches tok as uid's for the TTL in force, and no longer than exp (the token's
// expiry in Unix seconds, 0 = unknown), unless a revocation came since epoch (read before the
// call that verified it).
func (r *Remote) remember(tok string, uid, exp int64, epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != epoch {
		return
	}
	ttl := r.ttl
	if w := time.Duration(r.watchedTTL.Load()); w > 0 {
		ttl = w
	}
	until := r.now().Add(ttl).UnixNano()
	if exp > 0 && exp < until/int64(time.Second) {
		until = exp * int64(time.Second)
	}
	r.byUID.add(tok, uid)
	r.tokens.Add(tok, cachedToken{uid: uid, until: until})
}

// verifyEpoch is the revocations seen so far.
func (r *Remote) verifyEpoch() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch
}

// tokenIndex is the cached tokens of each user. The cache's evictions (its TTL, its size)
// take tokens out as they go; it has a lock of its own because the cache calls it under its.
type tokenIndex struct {
	mu    sync.Mutex
	users map[int64]map[string]struct{}
}

func (x *tokenIndex) add(tok string, uid int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.users == nil {
		x.users = map[int64]map[string]struct{}{}
	}
	set := x.users[uid]
	if set == nil {
		set = map[string]struct{}{}
		x.users[uid] = set
	}
	set[tok] = struct{}{}
}

// evicted is the cache's eviction callback.
func (x *tokenIndex) evicted(tok string, uid int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if set := x.users[uid]; set != nil {
		delete(set, tok)
		if len(set) == 0 {
			delete(x.users, uid)
		}
	}
}

// take removes uid's tokens from the index and returns them.
func (x *tokenIndex) take(uid int64) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.users[uid]
	delete(x.users, uid)
	out := make([]string, 0, len(set))
	for tok := range set {
		out = append(out, tok)
	}
	return out
}
