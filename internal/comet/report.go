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
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LogicTimeout)
	defer cancel()
	global, err := s.logic.ReportOnline(ctx, s.cfg.ServerID, s.cfg.AdvertiseAddr, counts)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("logic report online failed", "rooms", len(counts), "err", err)
		}
		return
	}
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
