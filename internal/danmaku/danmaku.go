// Package danmaku is the bullet-comment component: it validates, filters and rate-limits the
// comments users send to a room, stores them, pushes each one to the room's viewers as a
// DANMU_MSG, serves the recent history, and lets a room's owner mute users in their room.
package danmaku

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Deps are what the component is built from.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	DB       *sqlstore.DB
	IDs      *ids.Generator
	Rooms    room.Client
	Accounts account.Client
	Pusher   push.Client
	// Exp grants the sender experience for each accepted comment (nil = none).
	Exp Exp
	// Words are the banned words, refused anywhere in a comment; the zero value bans none.
	// One list serves every user-visible field (the root banned_words setting).
	Words textnorm.Words
	// Now is the clock of rate limits and timestamps; nil means time.Now.
	Now func() time.Time
	// Leases let one danmaku process of a cluster run the outbox relay (nil = this process).
	Leases *lease.Node
	// Hot says which rooms are hot (online counts and pins); their recent comments are kept
	// in memory (hot_history.go). nil = none is.
	Hot *hotroom.Tracker
	// Queue, when set, takes the comments that concern someone else (an '@', a reply) on the
	// MENTIONS stream (mentions.go); nil publishes none.
	Queue *queue.Queue
	// OnComment, when set, is told of every comment this process stored (a BFF in the same
	// process adds it to the room's page it keeps).
	OnComment func(c Comment)
}

// Exp grants experience points; account.ExpPublisher implements it.
type Exp interface {
	// AddExp gives uid delta points once per id, returning when the grant is stored.
	AddExp(ctx context.Context, uid, delta, id int64) error
}

// Service is the danmaku component. Sends run on the caller's goroutine; Start adds the
// outbox's marker and relay (outbox.go).
type Service struct {
	cfg       Config
	log       *slog.Logger
	store     Store
	ids       *ids.Generator
	rooms     room.Client
	accounts  account.Client
	pusher    push.Client
	exp       Exp
	mentions  *mentions
	now       func() time.Time
	words     atomic.Pointer[textnorm.Words] // SetWords swaps it
	limiter   *ratelimit.Keyed[int64]
	metrics   *metrics
	muteKeys  *hotkey.Detector                  // hot rooms of mute checks
	mutes     *hotkey.Cache[map[int64]struct{}] // nil when cfg.MuteCacheTTL is 0
	hist      *hotHistory                       // hot rooms' recent comments
	onComment func(c Comment)                   // Deps.OnComment

	leases     *lease.Node
	marks      marks
	stopOutbox context.CancelFunc
	wg         sync.WaitGroup
	stopOnce   sync.Once
	stopErr    error
}

// New checks cfg and deps and builds the service; it touches neither the database nor peers.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Logger == nil:
		return nil, errors.New("danmaku: Deps.Logger is required")
	case deps.Registry == nil:
		return nil, errors.New("danmaku: Deps.Registry is required")
	case deps.DB == nil:
		return nil, errors.New("danmaku: Deps.DB is required")
	case deps.IDs == nil:
		return nil, errors.New("danmaku: Deps.IDs is required")
	case deps.Rooms == nil || deps.Accounts == nil || deps.Pusher == nil:
		return nil, errors.New("danmaku: Deps.Rooms, Deps.Accounts and Deps.Pusher are required")
	}
	if cfg.PushTimeout == 0 {
		cfg.PushTimeout = 3 * time.Second
	}
	s := &Service{
		cfg:       cfg,
		log:       deps.Logger,
		store:     NewSQLStore(deps.DB),
		ids:       deps.IDs,
		rooms:     deps.Rooms,
		accounts:  deps.Accounts,
		pusher:    deps.Pusher,
		exp:       deps.Exp,
		mentions:  &mentions{q: deps.Queue},
		now:       deps.Now,
		limiter:   ratelimit.NewKeyed[int64](cfg.Rate, cfg.Burst),
		leases:    deps.Leases,
		onComment: deps.OnComment,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.SetWords(deps.Words)
	m, err := newMetrics(deps.Registry, func() float64 { return float64(s.limiter.Size()) })
	if err != nil {
		return nil, fmt.Errorf("danmaku: metrics: %w", err)
	}
	s.metrics = m
	if s.hist, err = newHotHistory(cfg, deps.Hot, s.now, deps.Registry); err != nil {
		return nil, fmt.Errorf("danmaku: metrics: %w", err)
	}
	if err := s.initMutes(deps.Registry); err != nil {
		return nil, err
	}
	return s, nil
}

// Start applies the schema migrations and starts the detector of hot rooms; the service is
// ready when it returns.
func (s *Service) Start(ctx context.Context) error {
	if err := s.store.Migrate(ctx); err != nil {
		return fmt.Errorf("danmaku: %w", err)
	}
	if s.muteKeys != nil {
		if err := s.muteKeys.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("danmaku: %w", err)
		}
	}
	s.startOutbox()
	return nil
}

// Stop stops the detector of hot rooms and the outbox (marking what was pushed); requests in
// flight finish on their own goroutines. A second call returns the first one's result.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.stopOutbox != nil {
			s.stopOutbox()
			s.wg.Wait()
		}
		if s.muteKeys != nil {
			s.stopErr = s.muteKeys.Stop(ctx)
		}
	})
	return s.stopErr
}

// getRoom returns the room, the room component's 404 kind when it does not exist, or
// Unavailable when the room component cannot answer.
func (s *Service) getRoom(ctx context.Context, roomID int64) (room.Room, error) {
	if roomID <= 0 {
		return room.Room{}, apierr.BadRequest.Withf("room id must be a positive integer")
	}
	rm, err := s.rooms.Get(ctx, roomID)
	if err != nil {
		return room.Room{}, peerError("get room", err)
	}
	return rm, nil
}

// peerError keeps a peer's error kind (404, 403 …) and turns anything else — a timeout, a
// refused connection — into Unavailable, so the caller sees a degraded feature, not a 500.
func peerError(what string, err error) error {
	var e *apierr.Error
	if errors.As(err, &e) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return apierr.Unavailable.Wrap(fmt.Errorf("%s: %w", what, err))
}

// isNotFound reports whether err is a 404 kind of any component.
func isNotFound(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Status == 404
}
