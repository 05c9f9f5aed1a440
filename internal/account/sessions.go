package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// Session revocation. A session token carries the user's token version when it was issued
// and an id of its own. Logout stores the id as revoked until the token's expiry; logout
// everywhere and a password change raise the version, which refuses every older token.
//
// Verify runs on every authenticated request, so the check is served from memory: per user,
// the version and revoked ids read from the store at most once per revocation_ttl. A change
// made through this process drops the user's entry at once; one made through another replica
// is seen here within revocation_ttl — except that a token newer than the cached version (the
// user logged in again on that replica after logging out everywhere) reloads at once. With a
// queue, changes are broadcast (revocations.go): seen everywhere at once, and entries are kept
// for revocation_ttl_watched.

// maxCachedSessions bounds the users whose sessions are cached.
const maxCachedSessions = 100_000

// sessionCheckTimeout bounds the store read of a cache miss inside Verify.
const sessionCheckTimeout = 2 * time.Second

type sessionCache struct {
	ttl atomic.Int64 // how long an entry is fresh, in ns: revocation_ttl, or _watched
	mu  sync.Mutex
	m   map[int64]*userSessions
}

type userSessions struct {
	ver     int64
	revoked []string // ids of revoked, unexpired tokens; almost always empty or short
	at      time.Time
}

func newSessionCache(ttl time.Duration) *sessionCache {
	c := &sessionCache{m: map[int64]*userSessions{}}
	c.setTTL(ttl)
	return c
}

// setTTL changes how long entries stay fresh, those cached already included.
func (c *sessionCache) setTTL(ttl time.Duration) { c.ttl.Store(int64(ttl)) }

// get returns uid's entry if it is fresher than the TTL; stale is the entry whatever its age.
func (c *sessionCache) get(uid int64, now time.Time) (fresh, stale *userSessions) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[uid]
	if e != nil && now.Sub(e.at) < time.Duration(c.ttl.Load()) {
		return e, e
	}
	return nil, e
}

func (c *sessionCache) put(uid int64, e *userSessions, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[uid]; !ok && len(c.m) >= maxCachedSessions {
		ttl := time.Duration(c.ttl.Load())
		for k, old := range c.m {
			if now.Sub(old.at) >= ttl {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedSessions {
			clear(c.m)
		}
	}
	c.m[uid] = e
}

// drop forgets uid's entry: the next check reads the store.
func (c *sessionCache) drop(uid int64) {
	c.mu.Lock()
	delete(c.m, uid)
	c.mu.Unlock()
}

// checkSession refuses a verified session token that was revoked.
func (s *Service) checkSession(ctx context.Context, c token.Claims) error {
	now := s.now()
	e, stale := s.sessions.get(c.UID, now)
	if e == nil || c.Ver > e.ver {
		ctx, cancel := context.WithTimeout(ctx, sessionCheckTimeout)
		ver, ids, err := s.store.Sessions(ctx, c.UID, now.Unix())
		cancel()
		switch {
		case errors.Is(err, ErrUserNotFound):
			return ErrTokenInvalid
		case err != nil:
			// The signature still proves who the user is; only revocations may be missed
			// while the store is unreachable. Degrade, do not lock everybody out.
			s.m.revocationErrs.Inc()
			s.logRevocationError(err)
			if stale == nil {
				return nil
			}
			e = stale
		default:
			e = &userSessions{ver: ver, revoked: ids, at: now}
			s.sessions.put(c.UID, e, now)
		}
	}
	if c.Ver < e.ver || (c.ID != "" && slices.Contains(e.revoked, c.ID)) {
		return ErrTokenRevoked
	}
	return nil
}

// logRevocationError logs at most one failed revocation check per 10 s.
func (s *Service) logRevocationError(err error) {
	now := time.Now().Unix()
	if last := s.lastRevocationLog.Load(); now-last >= 10 && s.lastRevocationLog.CompareAndSwap(last, now) {
		s.log.Warn("session revocations unreadable, accepting signed tokens unchecked", "err", err)
	}
}

// newTokenID is a random id naming one session token (96 bits, 16 characters).
func newTokenID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Logout revokes one session token (its id, until it expires). A token issued before tokens
// had ids cannot be named alone, so its logout ends every session of the user.
func (s *Service) Logout(ctx context.Context, c token.Claims) error {
	if c.ID == "" {
		return s.LogoutAll(ctx, c.UID)
	}
	if err := s.store.Revoke(ctx, c.UID, c.ID, c.Exp, s.now().Unix()); err != nil {
		return err
	}
	s.revoked(ctx, c.UID)
	s.m.revoked.WithLabelValues("logout").Inc()
	s.log.InfoContext(ctx, "session logged out", "uid", c.UID)
	return nil
}

// LogoutAll ends every session of uid issued so far.
func (s *Service) LogoutAll(ctx context.Context, uid int64) error {
	if _, err := s.store.BumpVersion(ctx, uid); err != nil {
		return err
	}
	s.revoked(ctx, uid)
	s.m.revoked.WithLabelValues("logout_all").Inc()
	s.log.InfoContext(ctx, "all sessions logged out", "uid", uid)
	return nil
}
