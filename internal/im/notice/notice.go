// Package notice is system notices and batch sends, and the interactive notices (component
// im-notice): a notice is stored once and a pointer put in each recipient's inbox, with an
// unread count per user and kind. A batch to a million users runs on a lane: the normal lane
// under a per-business quota, the high-priority lane on a consumer and a worker of its own, so
// an urgent notice is not queued behind a big batch. Mention and reply notices come from the
// @names and the replies of bullet comments (mentions.go), like notices from the likes of live
// rooms (likes.go), follow notices from new follows (follows.go).
// Delivered users' connections get IM_NOTICE.
package notice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Deps are what the component is built from.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	DB       *sqlstore.DB
	IDs      *ids.Generator
	Queue    *queue.Queue
	Pusher   push.Client
	// IsAdmin says who may send notices (the admins setting).
	IsAdmin func(uid int64) bool
	Now     func() time.Time // nil = time.Now
	// Accounts resolve @names and likers' names (required with Mentions or Likes).
	Accounts account.Client
	// Rooms name the anchor of a liked room (required with Likes).
	Rooms room.Client
	// Leases let one process of a cluster prune the claimed like ids (nil = this process).
	Leases *lease.Node
}

// Service is the notice component.
type Service struct {
	cfg     Config
	log     *slog.Logger
	store   Store
	ids     *ids.Generator
	q       *queue.Queue
	pusher  push.Client
	isAdmin func(uid int64) bool
	now     func() time.Time
	m       *metrics
	reg     prometheus.Registerer
	db      *sqlstore.DB

	accounts account.Client
	rooms    room.Client
	leases   *lease.Node
	likes    *aggregate.Durable[likeKey] // nil without Likes
	wg       sync.WaitGroup              // the pruning of like ids

	mu     sync.Mutex
	quotas map[string]*rate.Limiter // per business, normal lane

	ctx       context.Context // ends at Stop: batches in flight stop between chunks
	cancel    context.CancelFunc
	consumers impath.Consumers
	stopOnce  sync.Once
}

// The lanes' stream: one subject per lane, each read by a consumer of its own.
const (
	streamName = "IMNOTICE"
	subject    = "imnotice."
	// plan is a batch's message on its lane; the worker keeps it in progress while it runs.
	inProgressEvery = 5 * time.Second
	pushTimeout     = 5 * time.Second
)

// New checks cfg and deps and builds the service; it touches neither the database nor the queue.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil || deps.Registry == nil || deps.DB == nil || deps.IDs == nil || deps.Queue == nil || deps.Pusher == nil {
		return nil, errors.New("im-notice: Deps.Logger, Registry, DB, IDs, Queue and Pusher are required")
	}
	if (cfg.Mentions || cfg.Likes) && deps.Accounts == nil {
		return nil, errors.New("im-notice: Deps.Accounts is required with im_notice.mentions or im_notice.likes")
	}
	if cfg.Likes && deps.Rooms == nil {
		return nil, errors.New("im-notice: Deps.Rooms is required with im_notice.likes")
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("im-notice: metrics: %w", err)
	}
	s := &Service{cfg: cfg, log: deps.Logger, store: NewSQLStore(deps.DB), ids: deps.IDs, q: deps.Queue, pusher: deps.Pusher,
		isAdmin: deps.IsAdmin, now: deps.Now, m: m, quotas: map[string]*rate.Limiter{}, reg: deps.Registry, db: deps.DB,
		accounts: deps.Accounts, rooms: deps.Rooms, leases: deps.Leases}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.Likes {
		if s.likes, err = s.newLikes(); err != nil {
			return nil, fmt.Errorf("im-notice: likes: %w", err)
		}
	}
	return s, nil
}

func (s *Service) stream() string { return s.q.Stream(streamName) }

// Start migrates the tables, creates the lanes' stream and starts a worker per lane, and the
// consumers of comments, follows and likes that are turned on.
func (s *Service) Start(ctx context.Context) error {
	if err := s.store.Migrate(ctx); err != nil {
		return fmt.Errorf("im-notice: %w", err)
	}
	if err := s.q.EnsureStream(ctx, queue.StreamSpec{Name: s.stream(), Subjects: []string{s.q.Subject(subject + ">")},
		MaxAge: 7 * 24 * time.Hour, MaxBytes: 64 << 20, RefuseWhenFull: true}); err != nil {
		return fmt.Errorf("im-notice: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, lane := range []string{LaneHigh, LaneNormal} {
		if err := s.consumers.Consume(ctx, s.q, queue.ConsumerSpec{Stream: s.stream(), Durable: "im-notice-" + lane,
			Filter: s.q.Subject(subject + lane), AckWait: 30 * time.Second, MaxPending: 4},
			func(m queue.Msg) { s.run(lane, m) }); err != nil {
			s.Stop(ctx)
			return fmt.Errorf("im-notice: %w", err)
		}
	}
	if s.cfg.Mentions || s.cfg.Replies {
		if err := s.startMentions(ctx); err != nil {
			s.Stop(ctx)
			return fmt.Errorf("im-notice: mentions: %w", err)
		}
	}
	if s.cfg.Follows {
		if err := s.startFollows(ctx); err != nil {
			s.Stop(ctx)
			return fmt.Errorf("im-notice: follows: %w", err)
		}
	}
	if s.likes != nil {
		if err := s.startLikes(ctx); err != nil {
			s.Stop(ctx)
			return fmt.Errorf("im-notice: likes: %w", err)
		}
	}
	return nil
}

// Stop ends the workers between chunks (a batch in flight goes on in the next process, its
// delivered chunks skipped) and flushes the likes received. A second call does nothing.
func (s *Service) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.consumers.Stop()
		if s.likes != nil {
			err = s.likes.Stop(ctx)
		}
		s.wg.Wait()
	})
	return err
}

// quota is the normal lane's limiter of a business.
func (s *Service) quota(business string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.quotas[business]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.cfg.NormalRate), max(s.cfg.Chunk, s.cfg.NormalRate/10))
		s.quotas[business] = l
	}
	return l
}

// plan is a batch's message on its lane.
type plan struct {
	ID int64 `json:"id"`
}

// run delivers a batch chunk by chunk: each chunk in one transaction (inbox pointers, unread
// counts, the chunk marked done), then pushed to those users. A batch delivered again (a
// crash, a redelivery) skips its delivered chunks. The message is acknowledged once every
// chunk is delivered; a failure leaves it to the queue for another try.
func (s *Service) run(lane string, qm queue.Msg) {
	var p plan
	if err := json.Unmarshal(qm.Data(), &p); err != nil || p.ID <= 0 {
		s.log.Error("im-notice: dropping an unreadable batch", "err", err)
		_ = qm.Term()
		return
	}
	ctx := s.ctx
	b, err := s.store.Batch(ctx, p.ID)
	if errors.Is(err, ErrNoNotice) {
		_ = qm.Term()
		return
	}
	if err != nil {
		s.retry(qm, p.ID, err)
		return
	}
	ev := impath.Event("IM_NOTICE", b.Notice)
	last := time.Now()
	for i := 0; ; i++ {
		uids := b.Recipients.Chunk(i, s.cfg.Chunk)
		if uids == nil {
			break
		}
		if lane == LaneNormal {
			if err := s.quota(b.Business).WaitN(ctx, len(uids)); err != nil {
				s.retry(qm, p.ID, err)
				return
			}
		}
		fresh, err := s.store.DeliverChunk(ctx, b.Notice, i, uids)
		if err != nil {
			s.retry(qm, p.ID, err)
			return
		}
		if fresh {
			s.m.delivered.WithLabelValues(lane).Add(float64(len(uids)))
			pctx, cancel := context.WithTimeout(ctx, pushTimeout)
			if err := s.pusher.PushUsers(pctx, uids, ev); err != nil { // in their inboxes anyway
				s.m.pushFailures.Inc()
				s.log.Warn("im-notice: push failed; the notice waits in the inboxes", "notice", b.ID, "chunk", i, "err", err)
			}
			cancel()
		}
		if time.Since(last) > inProgressEvery {
			_ = qm.InProgress()
			last = time.Now()
		}
	}
	if err := s.store.Finish(ctx, p.ID); err != nil {
		s.retry(qm, p.ID, err)
		return
	}
	s.m.batches.WithLabelValues(lane).Inc()
	s.m.latency.WithLabelValues(lane).Observe(float64(s.now().UnixMilli()-b.Ts) / 1000)
	_ = qm.Ack()
}

func (s *Service) retry(qm queue.Msg, id int64, err error) {
	if s.ctx.Err() != nil {
		_ = qm.Nak() // stopping: the next process takes it on
		return
	}
	s.m.failures.Inc()
	s.log.Warn("im-notice: batch interrupted, queued for another try", "notice", id, "err", err)
	_ = qm.NakWithDelay(impath.RetryDelay)
}

// Send stores a notice for its recipients and puts its batch on the lane; it returns at once
// with the notice (its progress: Batch).
func (s *Service) Send(ctx context.Context, b Batch) (Batch, error) {
	id, err := s.ids.Next()
	if err != nil {
		return Batch{}, err
	}
	b.ID, b.Ts, b.Total = id, s.now().UnixMilli(), b.Recipients.Count()
	if err := s.store.Create(ctx, b); err != nil {
		return Batch{}, err
	}
	data, _ := json.Marshal(plan{ID: id})
	if err := s.q.Publish(ctx, s.q.Subject(subject+b.Lane), data, "notice-"+strconv.FormatInt(id, 10)); err != nil {
		return Batch{}, ErrQueue.Wrap(err)
	}
	s.m.sent.WithLabelValues(b.Lane).Inc()
	return b, nil
}
