// Package chat is single chat, the private messages between two users (component im-chat).
// A send is validated (text policy, settings, blocks, a per-user limit), put on the durable
// queue and acknowledged; from the queue a store writer applies messages in batches (write
// diffusion: content once, both sides' timelines and conversations, the receiver's unread
// counts) and a deliverer pushes each to both sides' long connections. A replayed client
// message id is the same message. Conversation lists are keyset pages with per-conversation
// unread counts and a total kept in one row. Blocks and who-may-message-me live here too:
// every send checks them, so they sit beside the send rather than a call away.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/presence"
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
	// Words are the banned words (the root banned_words setting); the zero value bans none.
	Words textnorm.Words
	// Now is the clock of limits, timestamps and the recall window; nil means time.Now.
	Now func() time.Time
	// Shared is Redis, which holds the hot tier (hot.go); nil = every read goes to the store.
	Shared *cache.Redis
	// IsAdmin says who may reassign any customer-service conversation besides its account's
	// agents (the admins setting; nil = nobody).
	IsAdmin func(uid int64) bool
	// Leases let one im-chat process of a cluster maintain the monthly partitions of
	// im_messages (nil = this process does).
	Leases *lease.Node
	// Presence tells which customer-service agents are connected (presence.go; nil = agents
	// are assigned by load alone).
	Presence *presence.Table
}

// Service is the single-chat component.
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
	spam      *spamCheck // one text to many people (spam.go)
	m         *metrics
	users     *expirable.LRU[int64, struct{}]      // users known to exist (userExists)
	accepted  *expirable.LRU[[2]int64, acceptance] // the last answer per pair (accepts)
	botClient *http.Client                         // bots' webhooks
	isAdmin   func(uid int64) bool                 // nil = nobody

	hot     *hotTier     // nil without Redis
	shared  *cache.Redis // the hot tier's Redis (its call time limit)
	warming warming      // users being put in the hot tier (tier.go)

	writer    *impath.Writer[Message] // the store writer
	deliverer *impath.Writer[Message] // pushes to both sides
	consumers impath.Consumers
	wg        sync.WaitGroup
	stopOnce  sync.Once

	parts     *sqlstore.PartitionKeeper // nil on SQLite
	partLease *lease.Lease
	endParts  context.CancelFunc // ends the partition keeper (nil until started)

	presence *presence.Table // nil: agents are assigned by load alone
	agents   *agentPresence  // set by Start when presence is on
}

// partitionLease is held by the im-chat process that maintains the partitions of im_messages.
const partitionLease = "im-chat-partitions"

// The queue: one stream of accepted messages (im.msg.<receiver>), read by the store writer
// and the deliverer, and of the store's changes (im.conv), read by the hot tier's updater.
const (
	streamName      = "IM"
	subjectPrefix   = "im.msg."
	changeSubject   = "im.conv"
	storeConsumer   = "im-chat-store"
	deliverConsumer = "im-chat-deliver"
	cacheConsumer   = "im-chat-cache"
)

// The users known to exist, kept to spare accounts a lookup per message, and how long the
// last settings answer of a pair may stand in for a store that does not answer.
const (
	userCacheSize = 100_000
	userTTL       = 5 * time.Minute
	acceptStale   = 10 * time.Minute
)

// New checks cfg and deps and builds the service; it touches neither the database nor the queue.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Logger == nil || deps.Registry == nil:
		return nil, errors.New("im-chat: Deps.Logger and Deps.Registry are required")
	case deps.DB == nil || deps.IDs == nil || deps.Queue == nil:
		return nil, errors.New("im-chat: Deps.DB, Deps.IDs and Deps.Queue are required")
	case deps.Accounts == nil || deps.Pusher == nil:
		return nil, errors.New("im-chat: Deps.Accounts and Deps.Pusher are required")
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("im-chat: metrics: %w", err)
	}
	s := &Service{
		cfg: cfg, log: deps.Logger, store: NewSQLStore(deps.DB), ids: deps.IDs, q: deps.Queue,
		accounts: deps.Accounts, pusher: deps.Pusher, now: deps.Now, m: m, isAdmin: deps.IsAdmin, presence: deps.Presence,
		limiter:   ratelimit.NewKeyed[int64](cfg.Rate, cfg.Burst),
		spam:      newSpamCheck(cfg.SpamReceivers, cfg.SpamWindow),
		users:     expirable.NewLRU[int64, struct{}](userCacheSize, nil, userTTL),
		accepted:  expirable.NewLRU[[2]int64, acceptance](userCacheSize, nil, acceptStale),
		botClient: &http.Client{Timeout: cfg.BotTimeout},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if deps.DB.Dialect == sqlstore.MySQL {
		if s.parts, err = sqlstore.NewPartitionKeeper(deps.DB, deps.Logger, deps.Registry, deps.Now,
			partitioned(cfg.PartitionAhead, cfg.PartitionRetention)...); err != nil {
			return nil, fmt.Errorf("im-chat: %w", err)
		}
		s.partLease = deps.Leases.Lease(partitionLease)
	} else if cfg.PartitionRetention != 0 {
		return nil, errors.New("im-chat: im_chat.partition_retention needs a MySQL store: SQLite keeps every message (its tables are not partitioned)")
	}
	if deps.Shared != nil {
		s.shared = deps.Shared
		s.hot = newHotTier(deps.Shared.Client(), deps.Shared.Prefix(), cfg.HotConversations, cfg.HotTimeline, cfg.HotTTL)
	}
	s.warming.init()
	s.writer = impath.NewWriter("im-chat", s.log, cfg.BatchSize, impath.Linger, storeTimeout, decodeMessage, s.storeBatch,
		func(error, int) { s.m.failures.WithLabelValues("store").Inc() })
	s.deliverer = impath.NewWriter("im-chat deliverer", s.log, cfg.BatchSize, 0, pushTimeout, decodeMessage, s.deliverBatch,
		func(error, int) { s.m.failures.WithLabelValues("deliver").Inc() })
	s.SetWords(deps.Words)
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

// stream is the queue's name of the stream of accepted messages.
func (s *Service) stream() string { return s.q.Stream(streamName) }

// Start migrates the tables, creates the stream and starts the store writer and the
// deliverer, and on MySQL the maintainer of the monthly partitions (partitioned); the service is
// ready when it returns.
func (s *Service) Start(ctx context.Context) error {
	if err := s.store.Migrate(ctx); err != nil {
		return fmt.Errorf("im-chat: %w", err)
	}
	if err := s.q.EnsureStream(ctx, queue.StreamSpec{
		Name: s.stream(), Subjects: []string{s.q.Subject("im.>")},
		MaxAge: s.cfg.Retention, MaxBytes: s.cfg.QueueBytes, Duplicates: s.cfg.Dedupe, RefuseWhenFull: true,
	}); err != nil {
		return fmt.Errorf("im-chat: %w", err)
	}
	// Before the deliverer starts: it reads who is connected (s.agents) for each message.
	if err := s.startPresence(ctx); err != nil {
		return fmt.Errorf("im-chat: %w", err)
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.writer.Run() }()
	go func() { defer s.wg.Done(); s.deliverer.Run() }()
	consume := func(name, filter string, fn func(queue.Msg)) error {
		return s.consumers.Consume(ctx, s.q, queue.ConsumerSpec{Stream: s.stream(), Durable: name, Filter: s.q.Subject(filter),
			MaxPending: 4 * s.cfg.BatchSize}, fn)
	}
	err := consume(storeConsumer, subjectPrefix+">", s.writer.Add)
	if err == nil {
		err = consume(deliverConsumer, subjectPrefix+">", s.deliverer.Add)
	}
	if err == nil && s.hot != nil {
		err = consume(cacheConsumer, changeSubject, s.applyChange)
	}
	if err != nil {
		s.Stop(ctx)
		return fmt.Errorf("im-chat: %w", err)
	}
	if err := s.startBots(ctx); err != nil {
		s.Stop(ctx)
		return err
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

// Stop stops consuming, lets the store writer apply what it holds and waits for it. Messages
// not yet acknowledged are delivered again to the next process. A second call does nothing.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.endParts != nil {
			s.endParts()
		}
		if s.agents != nil {
			s.agents.stop()
		}
		s.consumers.Stop()
		s.writer.Close()
		s.deliverer.Close()
		s.wg.Wait()
		s.warming.Wait()
		if s.partLease != nil {
			if err := s.partLease.Stop(ctx); err != nil {
				s.log.Warn("im-chat: partition lease not released; another process takes it over after its ttl", "err", err)
			}
		}
	})
	return nil
}
