package job

import (
	"context"
	"slices"
	"time"

	"github.com/zhibo-live/zhibo/internal/presence"
)

// Room → comet routing. Without presence every room batch goes to every comet. With it (a
// split cluster), the job reads every comet's report (presence.View) and:
//
//   - sends a room's batch only to the comets whose fresh report or recent join has the room,
//     plus every comet whose report is stale (nothing is known for sure about it) and every
//     fixed comet (peers.comets) that has not reported at all;
//   - connects to each comet it finds in the reports (Deps.Dial), so a new comet is used
//     without a restart, and lets go of one whose report is forgotten (it died);
//   - replays to a comet whose first viewer of a room it learns of late (a join that reaches
//     this job after a batch of the room skipped the comet) the room's recent batches
//     published after the join, so no viewer misses a message while the routing catches up.

// replayMargin is how much earlier than a join a batch may have been published and still be
// replayed to the joining comet: it covers clock differences between queue servers (joins and
// pushes are stamped by the queue), so a viewer may get a message from just before it joined,
// never miss one from after.
const replayMargin = 250 * time.Millisecond

// replayKeep is how long handed-off room batches are kept for replays: long enough for any
// join to reach the job through the queue.
const replayKeep = 5 * time.Second

// sentBatch is a room batch handed off recently, and the comets it went to.
type sentBatch struct {
	at        time.Time // when it was handed off
	published time.Time // the latest publish time of its messages
	msgs      [][]byte
	to        []*sender
}

// router is the job's routing state; every field is guarded by the service's mu.
type router struct {
	view    *presence.View
	byAddr  map[string]*sender     // every sender, by the comet's address (or its fixed name)
	keyOf   map[string]string      // a reported comet's address → its server key
	holders map[string]bool        // scratch of targets, reused batch after batch
	recent  map[int64][]*sentBatch // room → batches handed off in the last replayKeep
}

// startRouting watches presence and keeps the senders and routes up to date. It returns once
// the reports present at start are applied, so the first batches are already routed.
func (s *Service) startRouting(ctx context.Context) error {
	p := s.deps.Presence
	if p == nil {
		return nil
	}
	s.route = &router{view: presence.NewView(s.cfg.RouteStale, presence.TTL), byAddr: map[string]*sender{},
		keyOf: map[string]string{}, holders: map[string]bool{}, recent: map[int64][]*sentBatch{}}
	for _, sd := range s.senders {
		s.route.byAddr[sd.name] = sd
	}
	ready, err := p.Watch(ctx, s.applyPresence)
	if err != nil {
		return err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.wg.Add(1)
	go s.pruneRoutes(ctx)
	return nil
}

// applyPresence takes one presence change in: a report may bring a new comet, a join may
// need a replay.
func (s *Service) applyPresence(ev presence.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.route
	r.view.Apply(ev)
	switch {
	case ev.Join:
		s.replay(ev.Server, ev.Room, ev.At)
	case !ev.Gone && ev.Report.Addr != "":
		r.keyOf[ev.Report.Addr] = ev.Server
		if _, ok := r.byAddr[ev.Report.Addr]; !ok {
			s.addComet(ev.Report.Addr)
		}
	}
}

// addComet connects to a comet found in the reports; s.mu is held.
func (s *Service) addComet(addr string) {
	if s.deps.Dial == nil || s.stopping {
		return
	}
	c, err := s.deps.Dial(addr)
	if err != nil {
		s.log.Warn("comet found but not reachable", "addr", addr, "err", err)
		return
	}
	sd := s.newSender(c, addr)
	sd.found = true
	s.route.byAddr[addr] = sd
	s.m.comets.Set(float64(len(s.senders)))
	s.log.Info("comet found", "addr", addr)
}

// pruneRoutes forgets, every second, the batches too old to replay and the comets found in
// reports that are no longer alive.
func (s *Service) pruneRoutes(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case now := <-t.C:
			s.mu.Lock()
			r := s.route
			for room, bs := range r.recent {
				i := 0
				for i < len(bs) && now.Sub(bs[i].at) > replayKeep {
					i++
				}
				if i == len(bs) {
					delete(r.recent, room)
				} else if i > 0 {
					r.recent[room] = slices.Clone(bs[i:])
				}
			}
			alive := map[string]bool{}
			for _, addr := range r.view.Comets() {
				alive[addr] = true
			}
			for addr := range r.keyOf {
				if !alive[addr] {
					delete(r.keyOf, addr) // taken for dead: a fixed comet is unknown again (gets all)
				}
			}
			for addr, sd := range r.byAddr {
				if sd.found && !alive[addr] {
					s.removeSender(sd)
					delete(r.byAddr, addr)
					s.log.Warn("comet gone: no report for too long", "addr", addr)
				}
			}
			s.m.comets.Set(float64(len(s.senders)))
			s.mu.Unlock()
		}
	}
}

// targets are the senders a batch of room goes to; s.mu is held.
func (s *Service) targets(room int64) []*sender {
	r := s.route
	if r == nil {
		return s.senders
	}
	clear(r.holders)
	r.view.Holders(r.holders, room)
	out := make([]*sender, 0, len(s.senders))
	for _, sd := range s.senders {
		key, known := r.keyOf[sd.name]
		if !known || r.holders[key] {
			out = append(out, sd)
		} else {
			s.m.routedAway.Inc()
		}
	}
	return out
}

// remember keeps a handed-off batch for replays; s.mu is held.
func (s *Service) remember(room int64, published time.Time, msgs [][]byte, to []*sender) {
	if s.route == nil {
		return
	}
	s.route.recent[room] = append(s.route.recent[room], &sentBatch{at: time.Now(), published: published, msgs: msgs, to: to})
}

// replay sends the joining comet the room's batches it missed that were published after the
// join (less replayMargin); s.mu is held, so they reach its queue before any later batch.
func (s *Service) replay(server string, room int64, joined time.Time) {
	r := s.route
	addr, ok := r.view.Comets()[server]
	if !ok {
		return
	}
	sd := r.byAddr[addr]
	if sd == nil {
		return
	}
	for _, b := range r.recent[room] {
		if b.published.Before(joined.Add(-replayMargin)) || slices.Contains(b.to, sd) {
			continue
		}
		msgs := b.msgs
		s.enqueue(sd, nil, func(ctx context.Context, c Comet) error { return c.PushRoom(ctx, room, msgs) })
		b.to = append(b.to, sd)
		s.m.replayed.Inc()
	}
}
