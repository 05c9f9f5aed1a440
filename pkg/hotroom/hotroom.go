// Package hotroom answers "is room X hot for me?", where each caller picks its own threshold:
// the danmaku service may call a room hot at 5,000 viewers and switch to sampling, the gift
// service at 50,000 and switch to aggregated writes. It is fed the online counts of every room
// (from the long-connection tier) and takes pins: rooms marked hot ahead of an event, before
// their audience arrives.
//
// Reads take no lock: counts and pins are immutable snapshots swapped atomically, so IsHot on
// the hottest path costs two map lookups.
package hotroom

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker holds the latest counts and the pins.
type Tracker struct {
	now    func() time.Time
	counts atomic.Pointer[map[int64]int64]
	pins   atomic.Pointer[map[int64]Pin]
	mu     sync.Mutex // serialises writers of pins
}

// Pin marks a room hot until a time, whatever its count.
type Pin struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Room is a hot room as List reports it.
type Room struct {
	ID     int64 `json:"id"`
	Online int64 `json:"online"`
	Pinned *Pin  `json:"pinned,omitempty"`
}

// New returns an empty tracker; now is the clock (nil = time.Now).
func New(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	t := &Tracker{now: now}
	empty := map[int64]int64{}
	t.counts.Store(&empty)
	pins := map[int64]Pin{}
	t.pins.Store(&pins)
	return t
}

// Update replaces every room's count (rooms absent from counts have none).
func (t *Tracker) Update(counts map[int64]int64) {
	c := maps.Clone(counts)
	if c == nil {
		c = map[int64]int64{}
	}
	t.counts.Store(&c)
}

// Online is a room's last known count.
func (t *Tracker) Online(room int64) int64 { return (*t.counts.Load())[room] }

// IsHot reports whether room has at least threshold viewers or is pinned.
func (t *Tracker) IsHot(room, threshold int64) bool {
	if p, ok := (*t.pins.Load())[room]; ok && t.now().Before(p.Until) {
		return true
	}
	return threshold > 0 && (*t.counts.Load())[room] >= threshold
}

// Pinned returns room's pin while it lasts.
func (t *Tracker) Pinned(room int64) (Pin, bool) {
	p, ok := (*t.pins.Load())[room]
	if !ok || !t.now().Before(p.Until) {
		return Pin{}, false
	}
	return p, true
}

// PinRoom marks room hot until until (replacing an earlier pin).
func (t *Tracker) PinRoom(room int64, until time.Time, reason string) {
	t.editPins(func(p map[int64]Pin) { p[room] = Pin{Until: until, Reason: reason} })
}

// SetPins makes rooms exactly the set pinned with reason, until until: rooms in it are pinned
// (replacing any earlier pin), and pins with this reason on rooms not in it are removed, in
// one step. Pins with other reasons on other rooms stay. A config list of pinned rooms uses it
// so that a new list replaces the old one without touching pins made by hand.
func (t *Tracker) SetPins(rooms []int64, until time.Time, reason string) {
	t.editPins(func(p map[int64]Pin) {
		maps.DeleteFunc(p, func(id int64, pin Pin) bool { return pin.Reason == reason && !slices.Contains(rooms, id) })
		for _, id := range rooms {
			p[id] = Pin{Until: until, Reason: reason}
		}
	})
}

// Unpin removes room's pin.
func (t *Tracker) Unpin(room int64) {
	t.editPins(func(p map[int64]Pin) { delete(p, room) })
}

func (t *Tracker) editPins(edit func(map[int64]Pin)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	next := maps.Clone(*t.pins.Load())
	maps.DeleteFunc(next, func(_ int64, p Pin) bool { return !now.Before(p.Until) }) // drop expired
	edit(next)
	t.pins.Store(&next)
}

// List returns the rooms hot at threshold (and every pinned room), hottest first.
func (t *Tracker) List(threshold int64) []Room {
	now := t.now()
	counts, pins := *t.counts.Load(), *t.pins.Load()
	var out []Room
	for id, n := range counts {
		if threshold > 0 && n >= threshold {
			out = append(out, Room{ID: id, Online: n})
		}
	}
	for id, p := range pins {
		if !now.Before(p.Until) {
			continue
		}
		p := p
		i := slices.IndexFunc(out, func(r Room) bool { return r.ID == id })
		if i < 0 {
			out = append(out, Room{ID: id, Online: counts[id], Pinned: &p})
		} else {
			out[i].Pinned = &p
		}
	}
	slices.SortFunc(out, func(a, b Room) int {
		if a.Online != b.Online {
			return int(b.Online - a.Online)
		}
		return int(a.ID - b.ID)
	})
	return out
}
