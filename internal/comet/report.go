package comet

import (
	"context"
	"time"
)

// reportLoop sends per-room counts of distinct viewers to logic at once (so jobs find a new
// comet before its first viewer) and then every report_interval, and stores the global
// counts it answers with as each room's popularity (what heartbeat replies carry). Every
// comet reports its own connections, so this runs in each comet process.
func (s *Service) reportLoop() {
	defer s.wg.Done()
	s.report()
	t := time.NewTicker(s.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.report()
		}
	}
}

func (s *Service) report() {
	counts := s.Online()
	users := s.watchedHere()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LogicTimeout)
	defer cancel()
	global, watched, err := s.logic.ReportOnline(ctx, s.cfg.ServerID, s.cfg.AdvertiseAddr, counts, users)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("logic report online failed", "rooms", len(counts), "err", err)
		}
		return
	}
	s.watched.Store(&watched)
	for _, b := range s.buckets {
		b.mu.RLock()
		for id, r := range b.rooms {
			if v, ok := global[id]; ok {
				r.popularity.Store(v)
			}
		}
		b.mu.RUnlock()
	}
}

// watchedHere lists the watched users (as the last report's answer named them) that hold a
// connection on this comet, in a room or on their own channel.
func (s *Service) watchedHere() []int64 {
	w := s.watched.Load()
	if w == nil {
		return nil
	}
	var here []int64
	for _, uid := range *w {
		for _, b := range s.buckets {
			b.mu.RLock()
			n := len(b.users[uid])
			b.mu.RUnlock()
			if n > 0 {
				here = append(here, uid)
				break
			}
		}
	}
	return here
}
