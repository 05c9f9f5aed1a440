package presence

import (
	"slices"
	"sync"
	"time"
)

// Users is the cluster's picture of the tracked users, as one reader sees it, built from
// Watch events: which users are tracked (Tracked), and which of them are connected (Online).
// A comet's list of connected users counts for Stale after logic wrote it; a comet that
// stopped reporting, or whose logic did, says nothing after that.
type Users struct {
	Stale time.Duration
	Now   func() time.Time // nil = time.Now

	mu      sync.RWMutex
	byComet map[string]cometUsers // by server key
	tracked map[int64]time.Time   // uid → when its tracker last wrote it
}

type cometUsers struct {
	uids []int64
	at   time.Time
}

// NewUsers returns an empty picture; a comet's list counts for stale.
func NewUsers(stale time.Duration) *Users {
	return &Users{Stale: stale, byComet: map[string]cometUsers{}, tracked: map[int64]time.Time{}}
}

func (u *Users) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// Apply takes one event in; events of other kinds are not its.
func (u *Users) Apply(ev Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case ev.Users:
		if prev, ok := u.byComet[ev.Server]; !ok || !prev.at.After(ev.At) {
			u.byComet[ev.Server] = cometUsers{uids: ev.UIDs, at: ev.At}
		}
	case ev.Track:
		if ev.At.After(u.tracked[ev.UID]) {
			u.tracked[ev.UID] = ev.At
		}
	case ev.Gone:
		delete(u.byComet, ev.Server)
	}
}

// Online reports whether uid holds a connection on some comet, as a fresh list says.
func (u *Users) Online(uid int64) bool {
	cut := u.now().Add(-u.Stale)
	u.mu.RLock()
	defer u.mu.RUnlock()
	for _, c := range u.byComet {
		if c.at.After(cut) && slices.Contains(c.uids, uid) {
			return true
		}
	}
	return false
}

// Tracked lists the users tracked now (written within TrackTTL), in order; those older are
// forgotten.
func (u *Users) Tracked() []int64 {
	cut := u.now().Add(-TrackTTL)
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]int64, 0, len(u.tracked))
	for uid, at := range u.tracked {
		if at.After(cut) {
			out = append(out, uid)
		} else {
			delete(u.tracked, uid)
		}
	}
	slices.Sort(out)
	return out
}
