package danmaku

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// muteLoadTimeout bounds one load of a room's muted set; the load outlives the request that
// started it, since other senders of the room wait for the same load.
const muteLoadTimeout = 5 * time.Second

// muteSets answers "is uid muted in the room" from the room's whole muted set, read from the
// store once per ttl: a busy room's comments cost one query per ttl instead of one each, and
// concurrent senders of a room whose set expired wait for a single load. Mute and Unmute
// through this process drop the room's set at once; a change made through another danmaku
// process is seen within ttl.
type muteSets struct {
	ttl   time.Duration
	now   func() time.Time
	load  func(ctx context.Context, roomID int64) ([]int64, error)
	loads prometheus.Counter

	mu    sync.Mutex
	rooms map[int64]*muteSet
	swept time.Time
}

// muteSet is one room's muted uids as loaded at loaded; ready is closed once uids or err is
// set, and neither changes after.
type muteSet struct {
	ready  chan struct{}
	loaded time.Time
	uids   map[int64]struct{}
	err    error
}

func (e *muteSet) done() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

func newMuteSets(ttl time.Duration, now func() time.Time, loads prometheus.Counter,
	load func(ctx context.Context, roomID int64) ([]int64, error)) *muteSets {
	return &muteSets{ttl: ttl, now: now, load: load, loads: loads, rooms: make(map[int64]*muteSet)}
}

// muted reports whether uid is in the room's muted set, loading the set when it is missing,
// failed or older than ttl.
func (m *muteSets) muted(ctx context.Context, roomID, uid int64) (bool, error) {
	m.mu.Lock()
	now := m.now()
	e := m.rooms[roomID]
	if e == nil || (e.done() && (e.err != nil || now.Sub(e.loaded) >= m.ttl)) {
		e = &muteSet{ready: make(chan struct{}), loaded: now}
		m.rooms[roomID] = e
		m.sweep(now)
		m.mu.Unlock()
		m.fill(ctx, roomID, e)
	} else {
		m.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if e.err != nil {
		return false, e.err
	}
	_, ok := e.uids[uid]
	return ok, nil
}

// fill loads e in the background and returns; e.ready says when it is done.
func (m *muteSets) fill(ctx context.Context, roomID int64, e *muteSet) {
	m.loads.Inc()
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), muteLoadTimeout)
		defer cancel()
		uids, err := m.load(ctx, roomID)
		e.err = err
		if err == nil {
			e.uids = make(map[int64]struct{}, len(uids))
			for _, u := range uids {
				e.uids[u] = struct{}{}
			}
		}
		close(e.ready)
	}()
}

// drop forgets the room's set after a mute or unmute, so the next comment reads the store.
// A load in flight still answers the senders already waiting on it, which were concurrent
// with the change.
func (m *muteSets) drop(roomID int64) {
	m.mu.Lock()
	delete(m.rooms, roomID)
	m.mu.Unlock()
}

// sweep removes expired sets at most once per ttl, so rooms that went quiet do not stay in
// memory; m.mu is held.
func (m *muteSets) sweep(now time.Time) {
	if now.Sub(m.swept) < m.ttl {
		return
	}
	m.swept = now
	for id, e := range m.rooms {
		if e.done() && now.Sub(e.loaded) >= m.ttl {
			delete(m.rooms, id)
		}
	}
}
