package logic

import (
	"time"

	"github.com/axiomhq/hyperloglog"
)

// Viewer keys: what "one viewer" means in the counts. A logged-in user is one viewer however
// many devices and tabs it watches from; a guest is one viewer per connection token (the
// token's random session id), however many sockets it opens with it. Logged-in keys are the
// uid (positive), guest keys the negated session id, so the two never collide. The comet
// applies the same rule to count the distinct viewers it reports.
func viewerKey(uid, session int64) int64 {
	if uid > 0 {
		return uid
	}
	return -session
}

// Bounds of the per-viewer state logic keeps.
const (
	// maxEntryKeys bounds the (room, user) pairs remembered for entry_interval (about 60 B
	// each, so at most ~60 MiB). When full and nothing has expired, entries go unannounced
	// (counted as "full") rather than growing the map.
	maxEntryKeys = 1 << 20
	// sweepBudget is how many entries of each map one sweep looks at. Go starts every range
	// at a random place, so repeated partial sweeps reach every entry while no sweep holds the
	// lock for long, whatever the size of the maps.
	sweepBudget = 20000
	// sweepEvery is the period of the sweeps.
	sweepEvery = time.Second
	// watchedIdle is how long a room nobody is in keeps its watched count after its last
	// entry; then the sketch (up to 16 KiB) is dropped and the count starts again from 0.
	watchedIdle = 24 * time.Hour
)

// lease is one connection token's open connections, per comet holding them.
type lease struct {
	exp   int64 // the token's expiry, unix seconds: after it no Connect can name the token
	slots []leaseSlot
}

type leaseSlot struct {
	server string
	n      int32
}

func (l *lease) total() int {
	n := 0
	for _, s := range l.slots {
		n += int(s.n)
	}
	return n
}

// takeSlot admits one more connection of token sid on server unless the token already holds
// max_conns_per_token. s.mu is held.
func (s *Service) takeSlot(sid, exp int64, server string) bool {
	limit := s.cfg.MaxConnsPerToken
	l := s.leases[sid]
	if l == nil {
		l = &lease{exp: exp}
		s.leases[sid] = l
		s.m.leases.Inc()
	} else if limit > 0 && l.total() >= limit {
		return false
	}
	for i := range l.slots {
		if l.slots[i].server == server {
			l.slots[i].n++
			return true
		}
	}
	l.slots = append(l.slots, leaseSlot{server: server, n: 1})
	return true
}

// releaseSlot gives back one connection of token sid on server; unknown ones are ignored
// (a Disconnect repeated, or after the lease was swept). s.mu is held.
func (s *Service) releaseSlot(sid int64, server string) {
	l := s.leases[sid]
	if l == nil {
		return
	}
	for i := range l.slots {
		if l.slots[i].server != server {
			continue
		}
		if l.slots[i].n--; l.slots[i].n <= 0 {
			l.slots = append(l.slots[:i], l.slots[i+1:]...)
		}
		break
	}
	if len(l.slots) == 0 {
		delete(s.leases, sid)
		s.m.leases.Dec()
	}
}

// dropServerSlots forgets every connection a dead comet held. s.mu is held.
func (s *Service) dropServerSlots(server string) {
	for sid, l := range s.leases {
		for i := range l.slots {
			if l.slots[i].server == server {
				l.slots = append(l.slots[:i], l.slots[i+1:]...)
				break
			}
		}
		if len(l.slots) == 0 {
			delete(s.leases, sid)
			s.m.leases.Dec()
		}
	}
}

// watch counts the distinct viewers who entered a room: a HyperLogLog sketch (exact while
// small, then at most 16 KiB per room with about 1% error), whatever the audience.
type watch struct {
	hll   *hyperloglog.Sketch
	n     int64
	dirty bool
	last  int64 // unix seconds of the last entry
}

func (w *watch) add(viewer int64, now time.Time) {
	w.hll.InsertHash(mix64(uint64(viewer)))
	w.dirty = true
	w.last = now.Unix()
}

func (w *watch) count() int64 {
	if w.dirty {
		w.n, w.dirty = int64(w.hll.Estimate()), false
	}
	return w.n
}

// mix64 is splitmix64's finalizer: viewer keys are small sequential numbers, the sketch needs
// uniformly spread hashes.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// watchedIn returns room's watch, creating it. s.mu is held.
func (s *Service) watchedIn(room int64) *watch {
	w := s.watched[room]
	if w == nil {
		w = &watch{hll: hyperloglog.New14()}
		s.watched[room] = w
	}
	return w
}

type entryKey struct{ room, uid int64 }

// roomRate counts one room's announcements within the current second.
type roomRate struct {
	sec int64
	n   int
}

// Results of the entry gate (zhibo_logic_entries_total).
const (
	entryAnnounced = "announced"
	entryRepeat    = "repeat"    // the same user was announced in the room within entry_interval
	entryRoomRate  = "room_rate" // the room had entry_room_rate announcements this second
	entryFull      = "full"      // maxEntryKeys remembered and none expired
)

// admitEntry decides whether uid's entry into room is announced and remembers it if so.
// s.mu is held.
func (s *Service) admitEntry(room, uid int64, now time.Time) string {
	k := entryKey{room, uid}
	at := now.UnixNano()
	if iv := s.cfg.EntryInterval; iv > 0 {
		if last, ok := s.entries[k]; ok && at-last < int64(iv) {
			return entryRepeat
		}
		if len(s.entries) >= maxEntryKeys {
			s.sweepEntries(now)
			if len(s.entries) >= maxEntryKeys {
				return entryFull
			}
		}
	}
	if limit := s.cfg.EntryRoomRate; limit > 0 {
		r := s.roomRates[room]
		if r == nil {
			r = &roomRate{}
			s.roomRates[room] = r
		}
		if sec := now.Unix(); r.sec != sec {
			r.sec, r.n = sec, 0
		}
		if r.n >= limit {
			return entryRoomRate
		}
		r.n++
	}
	if s.cfg.EntryInterval > 0 {
		s.entries[k] = at
	}
	return entryAnnounced
}

// sweepEntries forgets up to sweepBudget expired entries and idle room rates. s.mu is held.
func (s *Service) sweepEntries(now time.Time) {
	cut := now.Add(-s.cfg.EntryInterval).UnixNano()
	n := 0
	for k, at := range s.entries {
		if at <= cut {
			delete(s.entries, k)
		}
		if n++; n >= sweepBudget {
			break
		}
	}
	sec := now.Unix()
	n = 0
	for id, r := range s.roomRates {
		if r.sec < sec {
			delete(s.roomRates, id)
		}
		if n++; n >= sweepBudget {
			break
		}
	}
}

// sweep forgets expired entries, the leases of expired tokens (which no Connect can name any
// more: this is what heals a slot a lost Disconnect left taken) and the watched counts of
// rooms empty and without an entry for watchedIdle.
func (s *Service) sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepEntries(now)
	n := 0
	for sid, l := range s.leases {
		if l.exp <= now.Unix() {
			delete(s.leases, sid)
			s.m.leases.Dec()
		}
		if n++; n >= sweepBudget {
			break
		}
	}
	n = 0
	idle := now.Add(-watchedIdle).Unix()
	for id, w := range s.watched {
		if w.last < idle && s.totals[id] == 0 {
			delete(s.watched, id)
			delete(s.lastSent, id)
		}
		if n++; n >= sweepBudget {
			break
		}
	}
}
