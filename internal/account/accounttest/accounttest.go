// Package accounttest holds an account.Client fake for the tests of components that call
// accounts: a fixed set of users (or, with KnowAll, every uid), tokens "tok-<uid>", and a
// switch that makes it fail like an account process that is down.
package accounttest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Fake is an account.Client over a fixed map of users.
type Fake struct {
	mu      sync.Mutex
	names   map[int64]string
	all     bool // KnowAll: every positive uid is a user
	follows map[account.FollowPair]bool
	err     error
}

var _ account.Client = (*Fake)(nil)

// New returns a fake knowing these users (uid → name).
func New(names map[int64]string) *Fake {
	f := &Fake{names: map[int64]string{}, follows: map[account.FollowPair]bool{}}
	for k, v := range names {
		f.names[k] = v
	}
	return f
}

// Add makes more users known, named after their uid.
func (f *Fake) Add(uids ...int64) {
	f.mu.Lock()
	for _, u := range uids {
		f.names[u] = generatedName(u)
	}
	f.mu.Unlock()
}

// KnowAll makes every positive uid a known user, named "user<uid>" unless New or Add named
// it otherwise: for tests whose users are drawn freely (a crowd of viewers) rather than from a
// fixture. Verify then accepts Token(uid) of any positive uid, and UIDs finds "user<uid>".
func (f *Fake) KnowAll() {
	f.mu.Lock()
	f.all = true
	f.mu.Unlock()
}

// name is uid's name and whether uid is a user; f.mu is held.
func (f *Fake) name(uid int64) (string, bool) {
	if n, ok := f.names[uid]; ok {
		return n, true
	}
	if f.all && uid > 0 {
		return generatedName(uid), true
	}
	return "", false
}

// namePrefix starts the name of a user made known by Add or KnowAll: namePrefix + uid.
const namePrefix = "user"

func generatedName(uid int64) string { return namePrefix + strconv.FormatInt(uid, 10) }

// Fail makes every later call but Verify return err (nil = answer again): tokens still check,
// as a gateway's own verifier checks them without the account process.
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// Token is the bearer token Verify accepts for uid.
func Token(uid int64) string { return fmt.Sprintf("tok-%d", uid) }

// Verify accepts Token(uid) of every known user.
func (f *Fake) Verify(_ context.Context, token string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var uid int64
	if _, err := fmt.Sscanf(token, "tok-%d", &uid); err == nil {
		if _, ok := f.name(uid); ok {
			return uid, nil
		}
	}
	return 0, apierr.Unauthorized.Withf("invalid token")
}

// User implements account.Client.
func (f *Fake) User(_ context.Context, uid int64) (account.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return account.User{}, f.err
	}
	n, ok := f.name(uid)
	if !ok {
		return account.User{}, account.ErrUserNotFound
	}
	return account.User{UID: uid, Name: n}, nil
}

// Names implements account.Client.
func (f *Fake) Names(_ context.Context, uids []int64) (map[int64]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := map[int64]string{}
	for _, u := range uids {
		if n, ok := f.name(u); ok {
			out[u] = n
		}
	}
	return out, nil
}

// UIDs implements account.Client: names match without regard to case, as in account.
func (f *Fake) UIDs(_ context.Context, names []string) (map[string]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]int64{}
	for _, n := range names {
		for uid, name := range f.names {
			if strings.EqualFold(name, n) {
				out[n] = uid
			}
		}
		if _, found := out[n]; found || !f.all {
			continue
		}
		if len(n) <= len(namePrefix) || !strings.EqualFold(n[:len(namePrefix)], namePrefix) {
			continue
		}
		if uid, err := strconv.ParseInt(n[len(namePrefix):], 10, 64); err == nil {
			if name, ok := f.name(uid); ok && strings.EqualFold(name, n) {
				out[n] = uid
			}
		}
	}
	return out, nil
}

// Follow makes follower follow followee (false: unfollow).
func (f *Fake) Follow(follower, followee int64, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := account.FollowPair{Follower: follower, Followee: followee}
	if on {
		f.follows[p] = true
	} else {
		delete(f.follows, p)
	}
}

// Follows implements account.Client over the edges Follow made.
func (f *Fake) Follows(_ context.Context, pairs []account.FollowPair) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([]bool, len(pairs))
	for i, p := range pairs {
		out[i] = f.follows[p]
	}
	return out, nil
}

// Relation implements account.Client: the counts and the viewer's relation from the follows
// set with Follow.
func (f *Fake) Relation(ctx context.Context, viewer, uid int64) (account.Relation, error) {
	if _, err := f.User(ctx, uid); err != nil {
		return account.Relation{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rel := account.Relation{UID: uid}
	for p, on := range f.follows {
		if !on {
			continue
		}
		if p.Followee == uid {
			rel.Followers++
		}
		if p.Follower == uid {
			rel.Following++
		}
	}
	if viewer > 0 && viewer != uid {
		rel.Followed = f.follows[account.FollowPair{Follower: viewer, Followee: uid}]
		rel.FollowsYou = f.follows[account.FollowPair{Follower: uid, Followee: viewer}]
	}
	return rel, nil
}
