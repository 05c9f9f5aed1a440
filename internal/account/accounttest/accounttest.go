// Package accounttest holds an account.Client fake for the tests of components that call
// accounts: a fixed set of users, tokens "tok-<uid>", and a switch that makes it fail like an
// account process that is down.
package accounttest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Fake is an account.Client over a fixed map of users.
type Fake struct {
	mu      sync.Mutex
	names   map[int64]string
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
		f.names[u] = fmt.Sprintf("user%d", u)
	}
	f.mu.Unlock()
}

// Fail makes every later call return err (nil = answer again).
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
		if _, ok := f.names[uid]; ok {
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
	n, ok := f.names[uid]
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
		if n, ok := f.names[u]; ok {
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
