package bff

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

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

// hotPages is the set of pages kept in memory, replaced whole by each refresh.
type hotPages struct {
	pages atomic.Pointer[map[int64]*hotPage]
	kick  chan struct{} // Warm: refresh now
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

// hotLoop refreshes the pages kept in memory every bff.hot_refresh, and at once on Warm.
func (s *Service) hotLoop(ctx context.Context) {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.HotRefresh)
	defer t.Stop()
	for {
		s.refreshHot(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.hot.kick:
		}
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
	s.hot.pages.Store(&next)
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
