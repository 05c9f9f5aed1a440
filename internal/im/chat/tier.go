package chat

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/im/hotlist"
	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// change is an event of the change stream: conversation states and unread totals as the store
// has them after a write. Hot receivers are the users a batch gave unread messages: those with
// warm_threshold conversations or more are put in the tier before they read.
type change struct {
	Convs  []ConvState `json:"convs"`
	Totals []Total     `json:"totals"`
	// Entries are the timeline entries a batch wrote (timeline.go).
	Entries []Entry `json:"entries,omitempty"`
}

// publishChange puts the states on the change stream; the hot tier's updater applies them.
func (s *Service) publishChange(ctx context.Context, c change) error {
	if s.hot == nil || (len(c.Convs) == 0 && len(c.Totals) == 0 && len(c.Entries) == 0) {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.q.Publish(ctx, s.q.Subject(changeSubject), b, "")
}

// applyChange is the hot tier's updater: it writes the states of users in the tier (each only
// over an older version) and warms the users left out who have many conversations.
func (s *Service) applyChange(qm queue.Msg) {
	var c change
	if err := json.Unmarshal(qm.Data(), &c); err != nil {
		s.log.Error("im-chat: dropping an unreadable change event", "err", err)
		_ = qm.Term()
		return
	}
	ctx, cancel := s.shared.Bound(context.Background())
	defer cancel()
	cold, err := s.hot.apply(ctx, c.Convs, c.Totals)
	if err == nil {
		err = s.hot.addEntries(ctx, c.Entries)
	}
	if err != nil {
		s.m.failures.WithLabelValues("hot").Inc()
		s.log.Warn("im-chat: hot tier update failed, retrying", "err", err)
		_ = qm.NakWithDelay(impath.RetryDelay)
		return
	}
	s.m.hotUpdates.Add(float64(len(c.Convs) + len(c.Totals) + len(c.Entries)))
	_ = qm.Ack()
	if s.cfg.WarmThreshold > 0 {
		for _, uid := range cold {
			s.prewarm(uid)
		}
	}
}

// warming runs the warms of users, one at a time per user and at most warmConcurrency at once,
// and remembers for a while which users were found too small to pre-warm.
type warming struct {
	*hotlist.Background
	mu    sync.Mutex
	small map[int64]time.Time // users checked below warm_threshold, and when
}

// warmConcurrency bounds the warms in flight; smallFor is how long a user found below the
// threshold is not counted again.
const (
	warmConcurrency = 8
	smallFor        = time.Minute
	warmTimeout     = 10 * time.Second
)

func (w *warming) init() {
	w.Background, w.small = hotlist.NewBackground(warmConcurrency), map[int64]time.Time{}
}

// isSmall reports a recent check that found uid below the threshold, forgetting old ones.
func (w *warming) isSmall(uid int64, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.small[uid]
	if ok && now.Sub(at) < smallFor {
		return true
	}
	delete(w.small, uid)
	if len(w.small) > 100000 { // bounded: forget everyone rather than grow
		clear(w.small)
	}
	return false
}

func (w *warming) markSmall(uid int64, now time.Time) {
	w.mu.Lock()
	w.small[uid] = now
	w.mu.Unlock()
}

// prewarm puts uid in the tier if uid has warm_threshold conversations or more.
func (s *Service) prewarm(uid int64) {
	now := s.now()
	if s.warming.isSmall(uid, now) {
		return
	}
	s.warming.Start(uid, func() {
		ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
		defer cancel()
		big, err := s.store.AtLeast(ctx, uid, s.cfg.WarmThreshold)
		if err != nil || !big {
			if err == nil {
				s.warming.markSmall(uid, now)
			}
			return
		}
		s.warm(ctx, uid, "prewarm")
	})
}

// warm puts uid in the tier now.
func (s *Service) warm(ctx context.Context, uid int64, why string) {
	if err := s.hot.warm(ctx, s.store, uid); err != nil {
		s.m.failures.WithLabelValues("hot").Inc()
		s.log.Warn("im-chat: hot tier warm failed", "uid", uid, "err", err)
		return
	}
	s.m.warms.WithLabelValues(why).Inc()
}

// readThrough answers from the hot tier when it holds the answer; otherwise it reads the
// store, and puts the user in the tier in the background when they are not in it. A Redis that fails costs a read of
// the store, not an error.
func readThrough[T any](s *Service, ctx context.Context, uid int64, hot func(context.Context) (T, error),
	store func() (T, error)) (T, string, error) {
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		v, err := hot(hctx)
		cancel()
		switch {
		case err == nil:
			s.m.reads.WithLabelValues(sourceHot).Inc()
			return v, sourceHot, nil
		case errors.Is(err, errDeep):
		case errors.Is(err, errCold):
			s.warming.Start(uid, func() {
				wctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
				defer cancel()
				s.warm(wctx, uid, "read")
			})
		default:
			s.m.failures.WithLabelValues("hot").Inc()
		}
	}
	v, err := store()
	if err == nil {
		s.m.reads.WithLabelValues(sourceStore).Inc()
	}
	return v, sourceStore, err
}

// Where a read was answered from.
const (
	sourceHot   = hotlist.SourceHot
	sourceStore = hotlist.SourceStore
)
