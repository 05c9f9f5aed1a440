package danmaku

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// hotHistoryRooms bounds the rooms whose recent comments are kept in memory.
const hotHistoryRooms = 1000

// hotHistory keeps the recent comments of rooms hot for this component (danmaku.hot_threshold,
// or pinned) in memory: loaded from the store at most once per danmaku.hot_history_ttl, and a
// comment accepted by this process is appended at once.
type hotHistory struct {
	hot       *hotroom.Tracker // nil = nothing kept
	threshold int64
	ttl       time.Duration
	size      int
	now       func() time.Time
	reads     *prometheus.CounterVec // by source: memory, store

	mu    sync.Mutex
	rooms map[int64]*roomHistory
}

// roomHistory is one room's last size comments, oldest first. items is never changed in
// place: an append makes a new slice, so a reader may keep the one it got.
type roomHistory struct {
	items []Comment
	at    time.Time // when loaded from the store
	gen   uint64    // appends since; a load that raced with one is not kept
}

func newHotHistory(cfg Config, hot *hotroom.Tracker, now func() time.Time, reg prometheus.Registerer) (*hotHistory, error) {
	h := &hotHistory{hot: hot, threshold: cfg.HotThreshold, ttl: cfg.HotHistoryTTL, size: cfg.HistorySize, now: now,
		rooms: map[int64]*roomHistory{},
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_danmaku_history_reads_total",
			Help: "Room histories answered, by source: memory (a hot room's recent comments kept by this process) or store."}, []string{"source"})}
	h.reads.WithLabelValues("memory")
	h.reads.WithLabelValues("store")
	if err := reg.Register(h.reads); err != nil {
		return nil, err
	}
	return h, nil
}

// isHot reports whether room's history is kept in memory.
func (h *hotHistory) isHot(room int64) bool {
	return h.hot != nil && h.ttl > 0 && h.hot.IsHot(room, h.threshold)
}

// get returns room's last limit comments through memory when the room is hot; load reads the
// store's last size comments.
func (h *hotHistory) get(ctx context.Context, room int64, limit int, load func(ctx context.Context, n int) ([]Comment, error)) ([]Comment, error) {
	if !h.isHot(room) {
		h.reads.WithLabelValues("store").Inc()
		return load(ctx, limit)
	}
	h.mu.Lock()
	e := h.rooms[room]
	var gen uint64
	if e != nil {
		if h.now().Sub(e.at) < h.ttl {
			items := e.items
			h.mu.Unlock()
			h.reads.WithLabelValues("memory").Inc()
			return slices.Clone(items[max(0, len(items)-limit):]), nil
		}
		gen = e.gen
	}
	h.mu.Unlock()
	h.reads.WithLabelValues("store").Inc()
	at := h.now()
	items, err := load(ctx, h.size)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if cur := h.rooms[room]; cur == nil || cur.gen == gen { // no comment appended meanwhile
		if cur != nil || h.makeRoom() {
			h.rooms[room] = &roomHistory{items: items, at: at, gen: gen}
		}
	}
	h.mu.Unlock()
	return slices.Clone(items[max(0, len(items)-limit):]), nil
}

// makeRoom drops the rooms no longer hot when the map is full; it reports whether there is
// room for one more. h.mu is held.
func (h *hotHistory) makeRoom() bool {
	if len(h.rooms) < hotHistoryRooms {
		return true
	}
	for id := range h.rooms {
		if !h.isHot(id) {
			delete(h.rooms, id)
		}
	}
	return len(h.rooms) < hotHistoryRooms
}

// add appends a comment this process accepted to its room's history kept in memory.
func (h *hotHistory) add(c Comment) {
	if h.hot == nil || h.ttl == 0 {
		return // nothing is kept
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.rooms[c.RoomID]
	if e == nil {
		// Not loaded yet: an expired entry marks the append, so a load under way that did
		// not see this comment is not kept.
		if h.isHot(c.RoomID) && h.makeRoom() {
			h.rooms[c.RoomID] = &roomHistory{gen: 1}
		}
		return
	}
	items := append(slices.Clone(e.items), c)
	h.rooms[c.RoomID] = &roomHistory{items: items[max(0, len(items)-h.size):], at: e.at, gen: e.gen + 1}
}
