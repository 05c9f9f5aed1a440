// Package group is group chat (component im-group): groups of up to max_members users, read
// diffusion — a message is stored once in its group's timeline and each member keeps a read
// position — sends through the durable queue like every private message (impath), and each
// message pushed to the members' connections as IM_GROUP_MSG.
package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/im/hotlist"
	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Deps are what the component is built from.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	DB       *sqlstore.DB
	IDs      *ids.Generator
	Queue    *queue.Queue
	Accounts account.Client
	Pusher   push.Client
	Words    textnorm.Words
	Now      func() time.Time // nil = time.Now
	// Leases let one im-group process of a cluster maintain the monthly partitions of
	// im_group_messages (nil = this process does).
	Leases *lease.Node
	// Shared is the Redis of the hot tier (nil = none: history pages read the store).
	Shared *cache.Redis
}

// Service is the group-chat component.
type Service struct {
	cfg       Config
	log       *slog.Logger
	store     Store
	ids       *ids.Generator
	q         *queue.Queue
	accounts  account.Client
	pusher    push.Client
	now       func() time.Time
	words     atomic.Pointer[textnorm.Words]
	limiter   *ratelimit.Keyed[int64]
	m         *metrics
	writer    *impath.Writer[Message] // the store writer
	deliverer *impath.Writer[Message] // pushes to the members
	cacher    *impath.Writer[Message] // feeds the hot tier (nil without one)
	shared    *cache.Redis
	hot       *hotTier // nil without Redis

	consumers impath.Consumers
	wg        sync.WaitGroup
	stopOnce  sync.Once

	parts     *sqlstore.PartitionKeeper // nil on SQLite
	partLease *lease.Lease
	endParts  context.CancelFunc // ends the partition keeper (nil until started)
}

// partitionLease is held by the im-group process that maintains the partitions of
// im_group_messages.
const partitionLease = "im-group-partitions"

// The queue of accepted group messages (im.group.<group id>), read by the store writer and
// the deliverer.
const (
	streamName      = "IMGROUP"
	subjectPrefix   = "imgroup."
	storeConsumer   = "im-group-store"
	deliverConsumer = "im-group-deliver"
	cacheConsumer   = "im-group-cache"
	storeTimeout    = 30 * time.Second
	pushTimeout     = 5 * time.Second
	pushChunk       = 1000 // members per push
)

// New checks cfg and deps and builds the service; it touches neither the database nor the queue.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil || deps.Registry == nil || deps.DB == nil || deps.IDs == nil || deps.Queue == nil ||
		deps.Accounts == nil || deps.Pusher == nil {
		return nil, errors.New("im-group: Deps.Logger, Registry, DB, IDs, Queue, Accounts and Pusher are required")
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("im-group: metrics: %w", err)
	}
	s := &Service{cfg: cfg, log: deps.Logger, store: NewSQLStore(deps.DB), ids: deps.IDs, q: deps.Queue,
		accounts: deps.Accounts, pusher: deps.Pusher, now: deps.Now, m: m, limiter: ratelimit.NewKeyed[int64](cfg.Rate, cfg.Burst)}
	if s.now == nil {
		s.now = time.Now
	}
	if deps.DB.Dialect == sqlstore.MySQL {
		if s.parts, err = sqlstore.NewPartitionKeeper(deps.DB, deps.Logger, deps.Registry, deps.Now,
			partitioned(cfg.PartitionAhead, cfg.PartitionRetention)...); err != nil {
			return nil, fmt.Errorf("im-group: %w", err)
		}
		s.partLease = deps.Leases.Lease(partitionLease)
	} else if cfg.PartitionRetention != 0 {
		return nil, errors.New("im-group: im_group.partition_retention needs a MySQL store: SQLite keeps every message (its tables are not partitioned)")
	}
	s.SetWords(deps.Words)
	s.writer = impath.NewWriter("im-group", s.log, cfg.BatchSize, impath.Linger, storeTimeout, decodeMessage, s.storeBatch,
		func(error, int) { s.m.failures.WithLabelValues("store").Inc() })
	s.deliverer = impath.NewWriter("im-group deliverer", s.log, cfg.BatchSize, 0, pushTimeout, decodeMessage, s.deliverBatch,
		func(error, int) { s.m.failures.WithLabelValues("deliver").Inc() })
	if deps.Shared != nil && cfg.HotMessages > 0 {
		s.shared = deps.Shared
		s.hot = &hotTier{c: deps.Shared.Client(), prefix: deps.Shared.Prefix(), ttl: cfg.HotTTL,
			lists:  &hotlist.Lists{C: deps.Shared.Client(), Cap: cfg.HotMessages, TTL: cfg.HotTTL},
			builds: hotlist.NewBackground(buildConcurrency)}
		s.cacher = impath.NewWriter("im-group cache", s.log, cfg.BatchSize, 0, pushTimeout, decodeMessage, s.cacheBatch,
			func(error, int) { s.m.failures.WithLabelValues("hot").Inc() })
	}
	return s, nil
}

// SetWords replaces the banned words (a reload).
func (s *Service) SetWords(w textnorm.Words) { s.words.Store(&w) }

// Reload applies the settings of LiveKeys from cfg.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.limiter.SetLimit(cfg.Rate, cfg.Burst, s.now())
	return nil
}

func (s *Service) stream() string { return s.q.Stream(streamName) }

// Start migrates the tables, creates the stream and starts the store writer and the
// deliverer, and on MySQL the maintainer of the monthly partitions (partitioned).
func (s *Service) Start(ctx context.Context) error {
	if err := s.store.Migrate(ctx); err != nil {
		return fmt.Errorf("im-group: %w", err)
	}
	if err := s.q.EnsureStream(ctx, queue.StreamSpec{Name: s.stream(), Subjects: []string{s.q.Subject(subjectPrefix + ">")},
		MaxAge: 24 * time.Hour, MaxBytes: s.cfg.QueueBytes, Duplicates: s.cfg.Dedupe, RefuseWhenFull: true}); err != nil {
		return fmt.Errorf("im-group: %w", err)
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.writer.Run() }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.deliverer.Run() }()
	consumers := map[string]func(queue.Msg){storeConsumer: s.writer.Add, deliverConsumer: s.deliverer.Add}
	if s.cacher != nil {
		s.wg.Go(s.cacher.Run)
		consumers[cacheConsumer] = s.cacher.Add
	}
	for name, fn := range consumers {
		if err := s.consumers.Consume(ctx, s.q, queue.ConsumerSpec{Stream: s.stream(), Durable: name, MaxPending: 4 * s.cfg.BatchSize}, fn); err != nil {
			s.Stop(ctx)
			return fmt.Errorf("im-group: %w", err)
		}
	}
	if s.parts != nil {
		// A pass now, then daily, by the lease holder; it does not hold up the start.
		s.partLease.Start(ctx)
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.endParts = cancel
		s.wg.Go(func() { s.parts.Run(pctx, s.partLease.Do) })
	}
	return nil
}

// Stop stops consuming and lets the store writer apply what it holds. A second call does nothing.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.endParts != nil {
			s.endParts()
		}
		s.consumers.Stop()
		s.writer.Close()
		s.deliverer.Close()
		if s.cacher != nil {
			s.cacher.Close()
			s.hot.builds.Wait()
		}
		s.wg.Wait()
		if s.partLease != nil {
			if err := s.partLease.Stop(ctx); err != nil {
				s.log.Warn("im-group: partition lease not released; another process takes it over after its ttl", "err", err)
			}
		}
	})
	return nil
}

// storeBatch is the store writer's batch: each message once in its group's timeline.
func (s *Service) storeBatch(ctx context.Context, msgs []Message) error {
	n, err := s.store.Apply(ctx, msgs)
	if err != nil {
		return err
	}
	s.m.stored.Add(float64(n))
	return nil
}

// deliverParallel bounds the groups a deliverer batch pushes to at once.
const deliverParallel = 32

// deliverBatch pushes each message to every member of its group as IM_GROUP_MSG, in chunks of
// pushChunk members. The messages of one group are pushed in order, different groups at once.
// Each chunk's push carries the message's id and the chunk's place, so a batch retried after
// a failure, or a redelivery, reaches nobody twice within the push stream's duplicate window.
func (s *Service) deliverBatch(ctx context.Context, msgs []Message) error {
	var order []int64
	lines := map[int64][]Message{}
	for _, m := range msgs {
		if _, ok := lines[m.GroupID]; !ok {
			order = append(order, m.GroupID)
		}
		lines[m.GroupID] = append(lines[m.GroupID], m)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deliverParallel)
	for _, group := range order {
		g.Go(func() error {
			for _, m := range lines[group] {
				if err := s.deliverOne(gctx, m); err != nil {
					return err
				}
				s.m.delivered.Inc()
			}
			return nil
		})
	}
	return g.Wait()
}

// deliverOne pushes m to its group's members, a chunk at a time.
func (s *Service) deliverOne(ctx context.Context, m Message) error {
	ev := impath.Event("IM_GROUP_MSG", m)
	for after, chunk := int64(0), 0; ; chunk++ {
		members, err := s.store.Members(ctx, m.GroupID, after, pushChunk)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			return nil
		}
		uids := make([]int64, len(members))
		for i, mb := range members {
			uids[i] = mb.UID
		}
		id := "img-" + strconv.FormatInt(m.ID, 10) + "-" + strconv.Itoa(chunk)
		if err := s.pusher.PushUsersOnce(ctx, uids, id, ev); err != nil {
			return err
		}
		if len(members) < pushChunk {
			return nil
		}
		after = uids[len(uids)-1]
	}
}

// notify pushes an event to users; a failure is logged: the change is stored and shows on the
// next read.
func (s *Service) notify(ctx context.Context, uids []int64, cmd string, data any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if err := s.pusher.PushUsers(ctx, uids, impath.Event(cmd, data)); err != nil {
		s.m.failures.WithLabelValues("deliver").Inc()
		s.log.WarnContext(ctx, "im-group: event push failed", "cmd", cmd, "err", err)
	}
}

func subject(group int64) string { return subjectPrefix + strconv.FormatInt(group, 10) }
