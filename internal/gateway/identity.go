package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// identityReuse is how long a signed identity is passed on again for the same caller: a
// quarter of its validity, so an upstream always gets one valid for 45 s more or longer.
const identityReuse = token.IdentityTTL / 4

// identityCacheMax bounds the callers remembered; past it the cache starts over.
const identityCacheMax = 100_000

// identityCache signs the caller a gateway passes downstream once per caller and
// identityReuse, instead of once per request (an HMAC and its encoding were 2 % of a forwarded
// request's cost).
type identityCache struct {
	sign func(uid int64, now time.Time) string
	m    sync.Map // uid → *signedIdentity
	n    atomic.Int64
}

type signedIdentity struct {
	at time.Time
	s  string
}

func (c *identityCache) get(uid int64) string {
	now := time.Now()
	if v, ok := c.m.Load(uid); ok {
		if e := v.(*signedIdentity); now.Sub(e.at) < identityReuse && !now.Before(e.at) {
			return e.s
		}
	}
	s := c.sign(uid, now)
	if c.n.Add(1) > identityCacheMax {
		c.m.Clear()
		c.n.Store(0)
	}
	c.m.Store(uid, &signedIdentity{at: now, s: s})
	return s
}
