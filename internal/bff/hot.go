package bff

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/room"
)

// hotPage is what this BFF keeps in memory of a hot room's page: the room as a viewer who is
// not its owner sees it, and the modules every viewer sees alike that answered at the last
// load (a module absent here is fetched by each enter).
type hotPage struct {
	rm   room.Room
	view room.View
	mods map[string]any
	at   time.Time
}

// module returns a module kept in memory; p may be nil.
func (p *hotPage) module(name string) (any, bool) {
	if p == nil {
		return nil, false
	}
	v, ok := p.mods[name]
	return v, ok
}

// hotPages is the set of pages kept in memory, replaced whole by each change.
type hotPages struct {
	pages atomic.Pointer[map[int64]*hotPage]
	kick  chan struct{} // Warm: refresh now
	again chan struct{} // Invalidate: reload the dirty pages now

	mu    sync.Mutex       // serialises changes of pages, dirty and gen
	dirty map[int64]bool   // invalidated, to be loaded again
	gen   map[int64]uint64 // invalidations of a room; a load that raced with one is not kept
}

// hotPage returns room id's page kept in memory, or nil: the room is not hot for this BFF (its
// audience below bff.hot_threshold and no pin), its page is not loaded yet, or viewer owns
// it (the owner's view shows the stream key, so it is read for them).
func (s *Service) hotPage(id, viewer int64) *hotPage {
	if s.deps.Hot == nil {
		return nil
	}
	p := (*s.hot.pages.Load())[id]
	if p == nil || (viewer != 0 && viewer == p.rm.OwnerUID) || !s.deps.Hot.IsHot(id, s.cfg.HotThreshold) {
		return nil
	}
	return p
}

// Warm makes the BFF load the pages of rooms that turned hot now rather than at its next
// refresh; the process calls it when it sees a pin.
func (s *Service) Warm() {
	select {
	case s.hot.kick <- struct{}{}:
	default:
	}
}

// Invalidate drops the pages of rooms kept in memory, so the next enter reads its components,
// and has them loaded again at once. The process calls it for writes its own components take
// (a comment, a rank change, a room write); writes in other processes show within
// bff.hot_refresh.
func (s *Service) Invalidate(rooms ...int64) {
	if s.deps.Hot == nil {
		return
	}
	s.hot.mu.Lock()
	cur := *s.hot.pages.Load()
	var next map[int64]*hotPage
	for _, id := range rooms {
		if !s.deps.Hot.IsHot(id, s.cfg.HotThreshold) {
			continue // not kept, nor being loaded
		}
		s.hot.gen[id]++
		if _, ok := cur[id]; ok {
			if next == nil {
				next = maps.Clone(cur)
			}
			delete(next, id)
			s.hot.dirty[id] = true
		}
	}
	if next != nil {
		s.hot.pages.Store(&next)
	}
	s.hot.mu.Unlock()
	if next != nil {
		select {
		case s.hot.again <- struct{}{}:
		default:
		}
	}
}

// CommentAdded adds a comment stored by this process's danmaku component to its room's page
// kept in memory, so the next enter shows it (a comment stored by another process shows
// within bff.hot_refresh).
func (s *Service) CommentAdded(c danmaku.Comment) {
	s.hot.mu.Lock()
	defer s.hot.mu.Unlock()
	cur := *s.hot.pages.Load()
	p := cur[c.RoomID]
	if p == nil {
		return
	}
	old, ok := p.mods[modComments].(Comments)
	if !ok {
		return // comments off, or not loaded: fetched by each enter
	}
	items := append(slices.Clone(old.Items), c)
	np := *p
	np.mods = maps.Clone(p.mods)
	np.mods[modComments] = Comments{Items: items[max(0, len(items)-s.cfg.Comments):]}
	next := maps.Clone(cur)
	next[c.RoomID] = &np
	s.hot.pages.Store(&next)
}

// withLater returns p with the comments of prev (the page it replaces) newer than p's own
// added: those a load that ran meanwhile may have missed. h.mu is held.
func (s *Service) withLater(p, prev *hotPage) *hotPage {
	if prev == nil {
		return p
	}
	got, ok1 := p.mods[modComments].(Comments)
	had, ok2 := prev.mods[modComments].(Comments)
	if !ok1 || !ok2 || len(had.Items) == 0 {
		return p
	}
	var last int64
	if n := len(got.Items); n > 0 {
		last = got.Items[n-1].ID
	}
	i := slices.IndexFunc(had.Items, func(c danmaku.Comment) bool { return c.ID > last })
	if i < 0 {
		return p
	}
	items := append(slices.Clone(got.Items), had.Items[i:]...)
	np := *p
	np.mods = maps.Clone(p.mods)
	np.mods[modComments] = Comments{Items: items[max(0, len(items)-s.cfg.Comments):]}
	return &np
}

// hotLoop refreshes the pages kept in memory every bff.hot_refresh and at once on Warm, and
// loads invalidated pages again as soon as they are.
func (s *Service) hotLoop(ctx context.Context) {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.HotRefresh)
	defer t.Stop()
	refresh := true
	for {
		if refresh {
			s.refreshHot(ctx)
		} else {
			s.reloadDirty(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			refresh = true
		case <-s.hot.kick:
			refresh = true
		case <-s.hot.again:
			refresh = false
		}
	}
}

// reloadDirty loads the invalidated pages of rooms still hot.
func (s *Service) reloadDirty(ctx context.Context) {
	s.hot.mu.Lock()
	ids := make([]int64, 0, len(s.hot.dirty))
	gens := make([]uint64, 0, len(s.hot.dirty))
	for id := range s.hot.dirty {
		ids = append(ids, id)
		gens = append(gens, s.hot.gen[id])
	}
	clear(s.hot.dirty)
	s.hot.mu.Unlock()
	for i, id := range ids {
		if !s.deps.Hot.IsHot(id, s.cfg.HotThreshold) {
			continue
		}
		p, err := s.loadHot(ctx, id)
		if err != nil {
			s.m.hotLoads.WithLabelValues("error").Inc()
			s.log.Warn("hot room page not loaded", "room", id, "err", err)
			continue
		}
		s.m.hotLoads.WithLabelValues("ok").Inc()
		s.hot.mu.Lock()
		if s.hot.gen[id] == gens[i] { // not invalidated again meanwhile
			next := maps.Clone(*s.hot.pages.Load())
			next[id] = s.withLater(p, next[id])
			s.hot.pages.Store(&next)
			s.m.hotRooms.Set(float64(len(next)))
		}
		s.hot.mu.Unlock()
	}
}

// refreshHot loads the page of every room hot for this BFF (pinned rooms first, then by
// audience, at most bff.hot_max_rooms) and drops the pages of rooms no longer hot. A room
// whose load fails keeps its previous page until it is older than twice the refresh period.
func (s *Service) refreshHot(ctx context.Context) {
	hot := s.deps.Hot.List(s.cfg.HotThreshold)
	pinned := hot[:0:0]
	for _, r := range hot {
		if r.Pinned != nil {
			pinned = append(pinned, r)
		}
	}
	for _, r := range hot {
		if r.Pinned == nil {
			pinned = append(pinned, r)
		}
	}
	hot = pinned[:min(len(pinned), s.cfg.HotMaxRooms)]

	old := *s.hot.pages.Load()
	s.hot.mu.Lock()
	gens := make(map[int64]uint64, len(hot))
	for _, r := range hot {
		gens[r.ID] = s.hot.gen[r.ID]
	}
	s.hot.mu.Unlock()
	next := make(map[int64]*hotPage, len(hot))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, hotLoaders)
	for _, r := range hot {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p, err := s.loadHot(ctx, r.ID)
			if err != nil {
				s.m.hotLoads.WithLabelValues("error").Inc()
				s.log.Warn("hot room page not loaded", "room", r.ID, "err", err)
				if prev := old[r.ID]; prev != nil && time.Since(prev.at) < 2*s.cfg.HotRefresh {
					p = prev
				} else {
					return
				}
			} else {
				s.m.hotLoads.WithLabelValues("ok").Inc()
			}
			mu.Lock()
			next[r.ID] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.hot.mu.Lock()
	cur := *s.hot.pages.Load()
	for id, g := range gens {
		if s.hot.gen[id] != g || s.hot.dirty[id] {
			delete(next, id) // invalidated while loading: reloadDirty or the next refresh loads it
		} else if p := next[id]; p != nil {
			next[id] = s.withLater(p, cur[id])
		}
	}
	for id := range s.hot.gen {
		if _, ok := gens[id]; !ok {
			delete(s.hot.gen, id) // no longer hot
		}
	}
	s.hot.pages.Store(&next)
	s.hot.mu.Unlock()
	s.m.hotRooms.Set(float64(len(next)))
}

// hotLoaders bounds the pages loaded at once by a refresh.
const hotLoaders = 8

// loadHot reads room id and the modules every viewer of its page sees alike, each within its
// timeout; a module that fails is left out (each enter then fetches it).
func (s *Service) loadHot(ctx context.Context, id int64) (*hotPage, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RoomTimeout)
	rm, view, err := s.deps.Rooms.View(rctx, id, 0)
	cancel()
	if err != nil {
		return nil, err
	}
	p := &hotPage{rm: rm, view: view, mods: map[string]any{}, at: time.Now()}
	mods := s.sharedModules(rm)
	if s.deps.Accounts != nil {
		// The anchor's follow counts, which every viewer sees alike; each signed-in viewer's
		// follow edges are read by their enter.
		mods = append(mods, module{name: modAnchor, run: func(ctx context.Context) (any, error) {
			return s.deps.Accounts.Relation(ctx, 0, rm.OwnerUID)
		}})
	}
	vals := make([]result, len(mods))
	var wg sync.WaitGroup
	for i, m := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mctx, cancel := context.WithTimeout(ctx, s.cfg.ModuleTimeout)
			defer cancel()
			v, err := m.run(mctx)
			vals[i] = result{v: v, err: err}
		}()
	}
	wg.Wait()
	for i, m := range mods {
		if vals[i].err != nil {
			s.log.Warn("hot room module not loaded", "room", id, "module", m.name, "err", vals[i].err)
			continue
		}
		p.mods[m.name] = vals[i].v
	}
	return p, nil
}
