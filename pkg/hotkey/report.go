package hotkey

import (
	"context"
	"slices"
	"strings"
	"time"
)

// hotSet is the immutable snapshot IsHot reads: key → pin expiry in Unix nanoseconds, 0 for a key
// detection found (which stays hot until a later refresh drops it).
type hotSet struct {
	keys map[string]int64
}

// OnChange registers fn to be called from the reporter goroutine, at most once per report
// interval, with the keys that joined and left the hot set (detected or pinned) since the last
// call. fn must not block for long: the next tick waits for it.
func (d *Detector) OnChange(fn func(added, removed []string)) {
	d.cbMu.Lock()
	defer d.cbMu.Unlock()
	d.callbacks = append(d.callbacks, fn)
}

// Pin marks key hot until the given time regardless of traffic, Allow or Deny — for keys known to
// turn hot ahead of an event. IsHot sees it at once; OnChange reports it at the next tick.
func (d *Detector) Pin(key string, until time.Time) {
	d.pinsMu.Lock()
	d.pins[strings.Clone(key)] = until
	d.pinsMu.Unlock()
	d.refresh()
}

// Unpin removes a pin; the key stays hot only if detection finds it.
func (d *Detector) Unpin(key string) {
	d.pinsMu.Lock()
	delete(d.pins, key)
	d.pinsMu.Unlock()
	d.refresh()
}

func (d *Detector) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mergeAll(false)
		if d.stepTime > 0 {
			d.age(true)
		}
		d.refresh()
		d.report()
	}
}

// refresh rebuilds the IsHot snapshot from the top-K members and the unexpired pins.
func (d *Detector) refresh() {
	d.publishMu.Lock()
	defer d.publishMu.Unlock()
	items := d.top.items(false)
	now := time.Now()
	d.pinsMu.Lock()
	keys := make(map[string]int64, len(items)+len(d.pins))
	for k, until := range d.pins {
		if !now.Before(until) {
			delete(d.pins, k)
			continue
		}
		keys[k] = until.UnixNano()
	}
	d.pinsMu.Unlock()
	for _, it := range items {
		keys[it.Key] = 0
	}
	d.hot.Store(&hotSet{keys: keys})
	d.metrics.hotKeys.Set(float64(len(keys)))
}

// report diffs the snapshot against the set last delivered and calls the callbacks. Only the
// reporter goroutine calls it.
func (d *Detector) report() {
	cur := d.hot.Load().keys
	var added, removed []string
	for k := range cur {
		if _, ok := d.reported[k]; !ok {
			added = append(added, k)
		}
	}
	for k := range d.reported {
		if _, ok := cur[k]; !ok {
			removed = append(removed, k)
		}
	}
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	for _, k := range added {
		d.reported[k] = struct{}{}
	}
	for _, k := range removed {
		delete(d.reported, k)
	}
	slices.Sort(added)
	slices.Sort(removed)
	d.cbMu.Lock()
	cbs := slices.Clone(d.callbacks)
	d.cbMu.Unlock()
	for _, fn := range cbs {
		fn(added, removed)
	}
}

// matcher holds Allow/Deny patterns: exact keys and "prefix*" prefixes.
type matcher struct {
	exact    map[string]struct{}
	prefixes []string
}

func newMatcher(patterns []string) matcher {
	m := matcher{exact: map[string]struct{}{}}
	for _, p := range patterns {
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			m.prefixes = append(m.prefixes, pre)
		} else {
			m.exact[p] = struct{}{}
		}
	}
	return m
}

func (m matcher) empty() bool { return len(m.exact) == 0 && len(m.prefixes) == 0 }

func (m matcher) match(key string) bool {
	if _, ok := m.exact[key]; ok {
		return true
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
