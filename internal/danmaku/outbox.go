package danmaku

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/room"
)

// The outbox. A comment is stored unpushed; once its DANMU_MSG — and, for a comment that
// concerns someone else, its message on the MENTIONS stream (mentions.go) — is on the queue it
// is marked pushed (in batches, every markEvery). The relay pushes and publishes every comment
// still unmarked after relayAge — the queue was down, or the process died between the insert
// and the push — so an acknowledged comment reaches its room, and its mention and reply
// notices, even then. The comment id is in both message ids: a message that did reach its
// stream is not stored twice if it is sent again within the stream's duplicate window (a
// minute for pushes, ten for MENTIONS); past it, viewers may see the comment twice (at least
// once), while im-notice still gives each notice once.
const (
	relayAge   = 3 * time.Second // younger comments may still be pushed, or marked, by their request
	relayBatch = 256
	markEvery  = time.Second // one UPDATE a second: the insert path shares the store's write lock
)

// relayLease names the lease of the outbox relay: once per cluster, so N danmaku processes
// do not all push the same stranded comments.
const relayLease = "danmaku-outbox"

// pushID is the queue message id of a comment's DANMU_MSG.
func pushID(id int64) string { return "danmaku-" + strconv.FormatInt(id, 10) }

// marks collects the ids of comments whose push succeeded, for one UPDATE per markEvery.
type marks struct {
	mu  sync.Mutex
	ids []int64
}

func (m *marks) add(id int64) {
	m.mu.Lock()
	m.ids = append(m.ids, id)
	m.mu.Unlock()
}

func (m *marks) take() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.ids
	m.ids = nil
	return ids
}

// startOutbox runs the marker and, under the lease, the relay until Stop.
func (s *Service) startOutbox() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopOutbox = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(markEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.flushMarks(context.Background())
				return
			case <-t.C:
				s.flushMarks(ctx)
			}
		}
	}()
	if s.cfg.RelayInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.leases.Run(ctx, relayLease, s.cfg.RelayInterval, s.relay)
		}()
	}
}

// flushMarks marks the comments pushed since the last flush. A failure only costs a second
// push by the relay, which the message id makes harmless within the duplicate window.
func (s *Service) flushMarks(ctx context.Context) {
	ids := s.marks.take()
	if len(ids) == 0 {
		return
	}
	if err := s.store.MarkPushed(ctx, ids); err != nil {
		s.log.Warn("danmaku: comments not marked pushed; the relay will push them again", "count", len(ids), "err", err)
	}
}

// relay is one pass of the relay, run every relay_interval by the holder of relayLease.
func (s *Service) relay(ctx context.Context) {
	n, err := s.relayOnce(ctx)
	if n > 0 {
		s.log.Info("danmaku outbox relay pushed comments", "count", n)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("danmaku outbox relay failed, retrying next interval", "err", err)
	}
}

// relayOnce pushes (and publishes, see pushOnce) every unpushed comment older than relayAge
// and marks it pushed; it returns how many it pushed.
func (s *Service) relayOnce(ctx context.Context) (int, error) {
	total := 0
	rooms := map[int64]room.Room{}
	for {
		cs, err := s.store.Unpushed(ctx, s.now().Add(-relayAge).UnixMilli(), relayBatch)
		if err != nil {
			return total, err
		}
		var done []int64
		var pushErr error
		for _, c := range cs {
			rm, ok := rooms[c.RoomID]
			if !ok {
				if rm, pushErr = s.getRoom(ctx, c.RoomID); pushErr != nil {
					if !isNotFound(pushErr) {
						break
					}
					pushErr = nil
					done = append(done, c.ID) // the room is gone: nobody to push to
					continue
				}
				rooms[c.RoomID] = rm
			}
			if pushErr = s.pushOnce(ctx, rm, c); pushErr != nil {
				break
			}
			s.metrics.relayed.Inc() // pushed, whether or not the mark below lands
			done = append(done, c.ID)
		}
		if len(done) > 0 {
			if err := s.store.MarkPushed(ctx, done); err != nil {
				return total, err
			}
			total += len(done)
		}
		if pushErr != nil {
			return total, pushErr
		}
		if len(cs) < relayBatch {
			return total, nil
		}
	}
}
