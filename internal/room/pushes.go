package room

import (
	"context"
	"sync"
	"time"
)

// A room's notices to its viewers (LIVE, PREPARING, ROOM_CHANGE) follow a change already
// stored. One the queue refused is kept and pushed again every pushRetryEvery, for up to
// pushRetryFor, so a queue that stalls for a moment does not leave players showing a room
// live that has stopped. Only the latest notice of a kind is kept per room: a newer one,
// pushed or kept, replaces it, and the notices of a room go out in the order of the changes.
const (
	pushRetryEvery = time.Second
	pushRetryFor   = time.Minute
)

// Kinds of notices, of which each room keeps the latest.
const (
	noticeStatus = "status" // LIVE, PREPARING
	noticeChange = "change" // ROOM_CHANGE
)

type noticeKey struct {
	room int64
	kind string
}

type notice struct {
	msg   []byte
	since time.Time
}

// notices are the notices the queue refused, with the lock that orders every push of them.
type notices struct {
	mu      sync.Mutex // held across each push: room notices are few, their order matters
	pending map[noticeKey]notice
}

// push tells the room's viewers, or keeps the notice to push again.
func (s *Service) push(ctx context.Context, id int64, kind string, msg []byte) {
	n := &s.notices
	n.mu.Lock()
	defer n.mu.Unlock()
	k := noticeKey{id, kind}
	if err := s.deps.Pusher.PushRoom(ctx, id, msg); err != nil {
		if n.pending == nil {
			n.pending = map[noticeKey]notice{}
		}
		n.pending[k] = notice{msg: msg, since: s.now()}
		s.m.pushRetries.WithLabelValues("kept").Inc()
		s.log.WarnContext(ctx, "room push failed: kept to push again", "room", id, "kind", kind, "err", err)
		return
	}
	delete(n.pending, k) // an older notice of the kind is out of date
}

// retryPushes pushes the kept notices again; one kept for pushRetryFor is dropped.
func (s *Service) retryPushes(ctx context.Context) {
	n := &s.notices
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, p := range n.pending {
		if err := s.deps.Pusher.PushRoom(ctx, k.room, p.msg); err == nil {
			delete(n.pending, k)
			s.m.pushRetries.WithLabelValues("pushed").Inc()
			s.log.InfoContext(ctx, "room push sent again", "room", k.room, "kind", k.kind)
			continue
		} else if s.now().Sub(p.since) >= pushRetryFor {
			delete(n.pending, k)
			s.m.pushRetries.WithLabelValues("dropped").Inc()
			s.log.ErrorContext(ctx, "room push dropped: the queue refused it for too long", "room", k.room, "kind", k.kind, "err", err)
		}
	}
}
