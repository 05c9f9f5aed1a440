package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
)

// confirmLoop tells room, every media.live_heartbeat, which rooms this process publishes and
// which wait out their offline grace (room.Client.ConfirmStreams). Live by video is a lease
// room holds for the process: if the process dies without ending its streams, the
// confirmations stop and room sets those rooms preparing after room.live_timeout. A
// confirmation room does not take is logged and counted; the next one renews the lease.
// confirm sends one confirmation (none when no room publishes or waits).
func (s *Service) confirm() {
	ids := append(slices.Collect(maps.Keys(s.engine.Publishing())), s.live.waiting()...)
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LiveHeartbeat)
	defer cancel()
	if err := s.deps.Rooms.ConfirmStreams(ctx, s.node, ids); err != nil {
		s.m.confirmErrs.Inc()
		s.log.Warn("publishing rooms not confirmed to room", "rooms", len(ids), "err", err)
	}
}

// newNodeID names this process to room: host name (at most 64 bytes, so the name fits room's
// 128), process id and a random suffix.
func newNodeID() string {
	host, _ := os.Hostname()
	if len(host) > 64 {
		host = host[:64]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}
