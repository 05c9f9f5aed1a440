// Package gift sells gifts in rooms: the catalog, wallets, idempotent sends that debit the
// wallet and record the order in one transaction, and the scores gifts give — per-anchor
// totals and per-room sender ranks — written through a window that folds many orders into one
// write per key. Orders reach the scores (and any other reader) as events on the GIFT stream,
// published after commit and re-published by an outbox relay, so a crash loses none.
package gift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Names on the queue and in rooms.
const (
	// StreamName is the stream of order events; subjects are SubjectPrefix + room id.
	StreamName = "GIFT"
	// SubjectPrefix starts the subject of a room's order events.
	SubjectPrefix = "gift.order."
	// ScoreConsumer is the durable consumer that folds orders into scores, and its key in
	// gift_agg_offsets.
	ScoreConsumer = "gift-score"
	// RankTag is the room tag telling that the room has a gift rank.
	RankTag = "gift_rank"

	streamMaxAge     = 7 * 24 * time.Hour
	streamDuplicates = 10 * time.Minute
	sideEffectBudget = 5 * time.Second // publish, push and tag after a commit
)

// Deps are the gift component's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	DB       *sqlstore.DB
	IDs      *ids.Generator
	Queue    *queue.Queue
	Rooms    room.Client
	Accounts account.Client
	Pusher   push.Client
	// Exp grants senders experience, +total per order (nil = none).
	Exp Exp
	// IsAdmin decides who may credit wallets and read the credit log (nil = nobody).
	IsAdmin func(uid int64) bool
	// Leases let one gift process of a cluster run the outbox relay (nil = this process runs
	// it, alone).
	Leases *lease.Node
	// Hot says which rooms are hot (online counts and pins); their ranks are kept in memory
	// (nil = only ranks the detector finds hot by their reads are).
	Hot *hotroom.Tracker
	// OnRanks, when set, is told of the rooms whose rank an aggregation flush of this process
	// changed (a BFF in the same process reloads their pages).
	OnRanks func(rooms []int64)
}

// Exp grants experience points; account.ExpPublisher implements it.
type Exp interface {
	// AddExp gives uid delta points once per id, returning when the grant is stored.
	AddExp(ctx context.Context, uid, delta, id int64) error
}

// Service is the gift component.
type Service struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	store    Store
	ids      *ids.Generator
	q        *queue.Queue
	rooms    room.Client
	accounts account.Client
	pusher   push.Client
	exp      Exp
	isAdmin  func(uid int64) bool
	leases   *lease.Node
	live     atomic.Pointer[liveSettings] // catalog and per-request limits; Reload swaps them
	agg      *aggregator
	reg      prometheus.Registerer

	hot      *hotroom.Tracker
	rankKeys *hotkey.Detector
	ranks    *hotkey.Cache[Rank]
	owners   *lru.Cache[int64, int64] // room → its owner (fixed for a room's life), for rank loads

	tagMu  sync.Mutex
	tagged map[int64]bool // rooms this process has tagged RankTag

	runMu   sync.Mutex
	running bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New builds the service; it starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Logger == nil, deps.Registry == nil, deps.DB == nil, deps.IDs == nil, deps.Queue == nil,
		deps.Rooms == nil, deps.Accounts == nil, deps.Pusher == nil:
		return nil, errors.New("gift: every dependency is required")
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("gift metrics: %w", err)
	}
	st := newSQLStore(deps.DB, cfg.InitialBalance)
	s := &Service{
		cfg:      cfg,
		log:      deps.Logger,
		m:        m,
		store:    st,
		ids:      deps.IDs,
		q:        deps.Queue,
		rooms:    deps.Rooms,
		accounts: deps.Accounts,
		pusher:   deps.Pusher,
		exp:      deps.Exp,
		isAdmin:  deps.IsAdmin,
		leases:   deps.Leases,
		tagged:   map[int64]bool{},
		reg:      deps.Registry,
		hot:      deps.Hot,
	}
	s.live.Store(newLiveSettings(cfg))
	if err := s.initRanks(); err != nil {
		return nil, err
	}
	s.agg, err = newAggregator(st, deps.DB.DB, deps.Queue, cfg.AggregateWindow, deps.Logger, deps.Registry, m)
	if err != nil {
		return nil, fmt.Errorf("gift aggregation: %w", err)
	}
	s.agg.onRanks = func(rooms []int64) {
		s.invalidateRanks(rooms)
		if deps.OnRanks != nil {
			deps.OnRanks(rooms)
		}
	}
	return s, nil
}

// Start migrates the tables, ensures the GIFT stream, and starts the score aggregation and the
// outbox relay. It returns once they run.
func (s *Service) Start(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.running {
		return errors.New("gift: already started")
	}
	if err := s.store.Migrate(ctx); err != nil {
		return fmt.Errorf("gift: %w", err)
	}
	if err := s.q.EnsureStream(ctx, queue.StreamSpec{
		Name: s.q.Stream(StreamName), Subjects: []string{s.q.Subject(SubjectPrefix + ">")},
		MaxAge: streamMaxAge, Duplicates: streamDuplicates,
	}); err != nil {
		return fmt.Errorf("gift: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := s.agg.start(loopCtx); err != nil {
		cancel()
		return fmt.Errorf("gift: %w", err)
	}
	if err := s.rankKeys.Start(loopCtx); err != nil {
		cancel()
		return fmt.Errorf("gift: %w", err)
	}
	s.wg.Go(func() { s.leases.Run(loopCtx, relayLease, s.cfg.RelayInterval, s.relay) })
	s.cancel, s.running = cancel, true
	s.log.Info("gift started", "gifts", len(s.live.Load().catalog.list), "aggregate_window", s.cfg.AggregateWindow,
		"initial_balance", s.cfg.InitialBalance)
	if s.cfg.InitialBalance > 0 {
		s.log.Warn("every new wallet starts with free coins: accounts cost nothing to make, so anyone can mint coins, "+
			"ranks and experience; set gift.initial_balance 0 and credit wallets through the top-up API on a public deployment",
			"initial_balance", s.cfg.InitialBalance)
	}
	return nil
}

// Stop stops consuming, flushes the scores folded so far and waits for every goroutine.
func (s *Service) Stop(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if !s.running {
		return nil
	}
	s.running = false
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("gift: stop: %w", ctx.Err())
	}
	if err := s.agg.stop(ctx); err != nil {
		return fmt.Errorf("gift: %w", err)
	}
	return s.rankKeys.Stop(ctx)
}

// Catalog returns the gifts that can be sent, in display order.
func (s *Service) Catalog() []Gift {
	return append([]Gift(nil), s.live.Load().catalog.list...)
}

// Gifts implements Client.
func (s *Service) Gifts(context.Context) ([]Gift, error) { return s.Catalog(), nil }

// Balance returns uid's wallet balance (a first read creates the wallet with the initial balance).
func (s *Service) Balance(ctx context.Context, uid int64) (int64, error) {
	if uid <= 0 {
		return 0, ErrBadUID
	}
	return s.store.Balance(ctx, uid)
}
