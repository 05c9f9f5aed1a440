package room

import (
	"context"
	"time"
)

// Live by video is a lease, not a fact: media confirms every media.live_heartbeat the rooms it
// publishes (ConfirmStreams), and a room live by its video whose confirmations stopped for
// room.live_timeout — its media process died without ending its streams (kill -9, OOM, a lost
// node) or cannot reach room — is set preparing with PREPARING to its viewers, exactly as a
// publish end would. Rooms switched live by hand are never confirmed and never expired.

// Bounds of one confirmation.
const (
	maxConfirmRooms = 10000
	maxNodeName     = 128 // rooms.stream_node
)

// expiryEvery is how often the holder of liveExpiryLease looks for unconfirmed rooms: a room
// goes preparing at most a fifth of the timeout after it ran out.
func expiryEvery(timeout time.Duration) time.Duration { return max(timeout/5, 10*time.Millisecond) }

// ConfirmStreams implements Client.
func (s *Service) ConfirmStreams(ctx context.Context, node string, ids []int64) error {
	if len(ids) > maxConfirmRooms {
		return ErrBadRoom.Withf("at most %d rooms in one confirmation", maxConfirmRooms)
	}
	if len(node) > maxNodeName {
		return ErrBadRoom.Withf("a media node name has at most %d bytes", maxNodeName)
	}
	if len(ids) == 0 {
		return nil
	}
	return s.store.ConfirmStreams(ctx, node, ids, s.now().UnixMilli())
}

// expireStreams sets preparing every room live by its video that no media process confirmed
// within room.live_timeout. It runs in the one room process holding liveExpiryLease; each
// room is expired by a conditional write, so a confirmation or a new publish that lands
// between the read and the write keeps the room live.
func (s *Service) expireStreams(ctx context.Context) {
	now := s.now()
	before := now.Add(-s.cfg.LiveTimeout).UnixMilli()
	stale, err := s.store.StaleStreams(ctx, before)
	if err != nil {
		s.log.WarnContext(ctx, "unconfirmed streams not read", "err", err)
		return
	}
	for _, st := range stale {
		ok, err := s.store.ExpireStream(ctx, st.ID, before, now.UnixMilli())
		if err != nil {
			s.log.WarnContext(ctx, "unconfirmed stream not expired", "room", st.ID, "err", err)
			continue
		}
		if !ok {
			continue
		}
		s.m.liveExpired.Inc()
		s.log.WarnContext(ctx, "media stopped confirming the stream; room set preparing", "room", st.ID,
			"node", st.Node, "last_confirmed", time.UnixMilli(st.SeenAt).UTC(), "timeout", s.cfg.LiveTimeout)
		s.liveChanged(ctx, st.ID, false)
	}
}
