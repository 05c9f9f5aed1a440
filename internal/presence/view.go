package presence

import (
	"maps"
	"sync"
	"time"
)

// View is the cluster's presence as one reader sees it, built from Watch events (or fed
// directly with Apply). A comet's report is fresh for Stale after it was written: a fresh
// report says exactly which rooms the comet holds. A stale one says nothing for sure (its
// logic may be down, the comet overloaded): Holders then names that comet for every room,
// so nobody misses a message while the picture is unclear. After Forget a comet is taken
// for dead and dropped.
type View struct {
	Stale  time.Duration
	Forget time.Duration
	Now    func() time.Time // nil = time.Now
	// OnJoin, when set, is called (under no lock) for each join seen.
	OnJoin func(server string, room int64, at time.Time)

	mu      sync.RWMutex
	reports map[string]Report              // by server key
	joins   map[string]map[int64]time.Time // server key → room → when its first viewer came
}

// NewView returns an empty view with the given bounds.
func NewView(stale, forget time.Duration) *View {
	return &View{Stale: stale, Forget: forget, reports: map[string]Report{}, joins: map[string]map[int64]time.Time{}}
}

func (v *View) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Apply takes one event in. For a report that replaced the comet's previous one, it returns
// that one (replaced true), so a reader keeping sums can apply the difference.
func (v *View) Apply(ev Event) (old Report, replaced bool) {
	if ev.Users || ev.Track {
		return Report{}, false // users, not rooms: a Users view's
	}
	v.mu.Lock()
	switch {
	case ev.Gone:
		delete(v.reports, ev.Server)
		delete(v.joins, ev.Server)
	case ev.Join:
		js := v.joins[ev.Server]
		if js == nil {
			js = map[int64]time.Time{}
			v.joins[ev.Server] = js
		}
		if ev.At.After(js[ev.Room]) {
			js[ev.Room] = ev.At
		}
	default:
		prev, ok := v.reports[ev.Server]
		if ok && prev.At.After(ev.Report.At) {
			break // an older report arriving late
		}
		old, replaced = prev, true
		v.reports[ev.Server] = ev.Report
		// A join the report already covers, or that is older than the report, is done.
		for room, at := range v.joins[ev.Server] {
			if _, ok := ev.Report.Rooms[room]; ok || at.Before(ev.Report.At.Add(-v.Stale)) {
				delete(v.joins[ev.Server], room)
			}
		}
	}
	v.mu.Unlock()
	if ev.Join && v.OnJoin != nil {
		v.OnJoin(ev.Server, ev.Room, ev.At)
	}
	return old, replaced
}

// Fresh reports whether a report is young enough to count.
func (v *View) Fresh(r Report) bool { f, _ := v.fresh(r, v.now()); return f }

// state of a comet's report at now.
func (v *View) fresh(r Report, now time.Time) (fresh, alive bool) {
	age := now.Sub(r.At)
	return age <= v.Stale, age <= v.Forget
}

// Totals sums the fresh reports' viewers per room: the cluster-wide online counts.
func (v *View) Totals() map[int64]int64 {
	now := v.now()
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[int64]int64{}
	for _, r := range v.reports {
		if f, _ := v.fresh(r, now); f {
			for id, n := range r.Rooms {
				out[id] += n
			}
		}
	}
	return out
}

// Comets returns the address of every comet not yet taken for dead, by server key.
func (v *View) Comets() map[string]string {
	now := v.now()
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string]string, len(v.reports))
	for k, r := range v.reports {
		if _, alive := v.fresh(r, now); alive && r.Addr != "" {
			out[k] = r.Addr
		}
	}
	return out
}

// Holds reports whether server (a key) is known to hold room: in its report or a recent join.
func (v *View) Holds(server string, room int64) bool {
	now := v.now()
	v.mu.RLock()
	defer v.mu.RUnlock()
	if r, ok := v.reports[server]; ok {
		if _, in := r.Rooms[room]; in {
			if f, _ := v.fresh(r, now); f {
				return true
			}
		}
	}
	at, ok := v.joins[server][room]
	return ok && now.Sub(at) <= v.Stale
}

// Holders adds to dst the server keys a batch for room must go to: every comet whose fresh
// report or recent join has the room, and every comet whose report is stale but not yet
// forgotten.
func (v *View) Holders(dst map[string]bool, room int64) {
	now := v.now()
	v.mu.RLock()
	defer v.mu.RUnlock()
	for k, r := range v.reports {
		f, alive := v.fresh(r, now)
		_, in := r.Rooms[room]
		if (f && in) || (!f && alive) {
			dst[k] = true
		}
	}
	for k, js := range v.joins {
		if at, ok := js[room]; ok && now.Sub(at) <= v.Stale {
			dst[k] = true
		}
	}
}

// Report returns a copy of a comet's last report.
func (v *View) Report(server string) (Report, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r, ok := v.reports[server]
	r.Rooms = maps.Clone(r.Rooms)
	return r, ok
}
