// Package room owns rooms: creation, title/area/cover, live status and stream keys, the TAGs
// that say which business modules a room has, and the list of rooms ordered live-first by
// popularity. Reads are split into FieldMask modules so callers fetch only what they show.
package room

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/every"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// Deps are the room component's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	DB       *sqlstore.DB
	Accounts account.Client
	Pusher   push.Client   // LIVE / PREPARING / ROOM_CHANGE into the room
	Counter  logic.Counter // online counts for stats and the list order (nil = zeros)
	IsAdmin  func(uid int64) bool
	Shared   SharedCache // nil = no shared cache (Redis not configured)
	// Queue carries likes (LIKES stream); nil = likes disabled (POST …/likes answers 503).
	Queue *queue.Queue
	Now   func() time.Time
	// Words are the banned words refused in titles and areas; the zero value bans none.
	// One list serves every user-visible field (the root banned_words setting).
	Words textnorm.Words
	// Leases let one room process of a cluster write the list order and prune claimed like
	// ids (nil = this process does, alone).
	Leases *lease.Node
	// Hot is the process's tracker of hot rooms, shared with the other components that ask it
	// (nil = the room component keeps its own).
	Hot *hotroom.Tracker
	// Pins keeps operator pins and the hot list where every process sees them (nil = pins
	// and counts stay in this process).
	Pins Pins
	// OnWrite, when set, is told of every write to a room taken by this process, after its
	// caches were invalidated (a BFF in the same process reloads the room's page).
	OnWrite func(id int64)
}

// Pins is where operator pins and the online counts of the most watched rooms are shared
// (hotpin.Table on the queue).
type Pins interface {
	PinRoom(ctx context.Context, room int64, until time.Time, reason string) error
	UnpinRoom(ctx context.Context, room int64) error
	PinKey(ctx context.Context, key string, until time.Time, reason string) error
	UnpinKey(ctx context.Context, key string) error
	PutCounts(ctx context.Context, counts map[int64]int64, ttl time.Duration) error
}

// countsTTL is how long the shared counts outlive their last write: several refreshes, so a
// late one does not make them vanish, and not much more, so counts nobody refreshes any more
// (no room process holds the lease) stop making rooms hot.
func countsTTL(interval time.Duration) time.Duration { return max(30*time.Second, 10*interval) }

// Leases of the room's once-per-cluster work.
const (
	popularityLease = "room-popularity"
	likesPruneLease = "room-likes-prune"
	liveExpiryLease = "room-live-expiry"
)

// Service implements Client and the /api/rooms routes.
type Service struct {
	stopOnce sync.Once // Stop runs once; later calls return its result
	stopErr  error

	cfg   Config
	deps  Deps
	log   *slog.Logger
	now   func() time.Time
	store Store
	m     *metrics

	tagMu sync.Mutex // serialises tag read-modify-write
	hot   *hotroom.Tracker
	pop   *lease.Lease // held by the process that writes the list order
	// hotThreshold and words are the live copies of cfg.HotThreshold and deps.Words (Reload,
	// SetWords).
	hotThreshold atomic.Int64
	words        atomic.Pointer[textnorm.Words]

	// globalOff are the global switches as last loaded (switches.go); switchesMu orders
	// their reloads and changes.
	globalOff  atomic.Pointer[[]string]
	switchesMu sync.Mutex

	det      *hotkey.Detector
	hotCache *hotkey.Cache[Room]

	hotKeysMu sync.Mutex
	hotKeys   map[string]HotKeys
	keyPins   KeyPins

	likes       *likeFold // nil without a queue
	likeLimiter *ratelimit.Keyed[int64]

	coverSlots chan struct{} // bounds the cover images being decoded at once (memory)

	rotatedMu sync.Mutex
	rotated   []func(id int64) // OnKeyRotated

	videoViewers atomic.Pointer[VideoViewers] // CountVideoViewers

	endExpiry context.CancelFunc // ends the expiry of unconfirmed streams (nil: not running)

	notices        notices       // refused by the queue, to push again (pushes.go)
	pushRetryEvery time.Duration // pushRetryEvery; shorter in tests

	stop chan struct{}
	wg   sync.WaitGroup
}

// New builds the service; Start migrates the store and starts the popularity refresh.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.DB == nil || deps.Accounts == nil || deps.Pusher == nil {
		return nil, errors.New("room: DB, Accounts and Pusher are required")
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	hot := deps.Hot
	if hot == nil {
		hot = hotroom.New(now)
	}
	hot.SetPins(cfg.HotRooms, time.Unix(configPinUntilUnix, 0), configPinReason)
	if cfg.CoverMaxBytes == 0 {
		cfg.CoverMaxBytes = 2 << 20
	}
	if cfg.CoverMaxSide == 0 {
		cfg.CoverMaxSide = 4096
	}
	if cfg.SwitchesRefresh == 0 {
		cfg.SwitchesRefresh = time.Second
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger, now: now, m: newMetrics(deps.Registry),
		hot: hot, pop: deps.Leases.Lease(popularityLease), stop: make(chan struct{}), coverSlots: make(chan struct{}, coverDecoders), likeLimiter: ratelimit.NewKeyed[int64](cfg.Likes.Rate, cfg.Likes.Burst)}
	s.hotThreshold.Store(cfg.HotThreshold)
	s.globalOff.Store(&[]string{})
	s.SetWords(deps.Words)
	if deps.Queue != nil {
		var err error
		if s.likes, err = newLikeFold(cfg.Likes, deps, now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start migrates and begins refreshing popularity.
func (s *Service) Start(ctx context.Context) error {
	st, err := NewSQLStore(ctx, s.deps.DB)
	if err != nil {
		return fmt.Errorf("room: %w", err)
	}
	s.store = st
	if s.det == nil {
		if err := s.initReads(); err != nil {
			return err
		}
	}
	if err := s.det.Start(ctx); err != nil {
		return fmt.Errorf("room: %w", err)
	}
	if err := s.loadGlobalSwitches(ctx); err != nil {
		return fmt.Errorf("room: global switches: %w", err)
	}
	// The global switches are reloaded every SwitchesRefresh, so a switch set through another
	// room process reaches this one.
	s.wg.Go(func() { every.Run(s.stop, s.cfg.SwitchesRefresh, s.reloadSwitches) })
	retry := s.pushRetryEvery
	if retry == 0 {
		retry = pushRetryEvery
	}
	s.wg.Go(func() { every.Run(s.stop, retry, func() { s.retryPushes(context.Background()) }) })
	if s.likes != nil {
		if err := s.likes.start(ctx); err != nil {
			return err
		}
	}
	if s.cfg.LiveTimeout > 0 {
		expiryCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.endExpiry = cancel
		s.wg.Go(func() { s.deps.Leases.Run(expiryCtx, liveExpiryLease, expiryEvery(s.cfg.LiveTimeout), s.expireStreams) })
	}
	if s.cfg.PopularityInterval > 0 && s.deps.Counter != nil {
		s.pop.Start(ctx)
		s.wg.Go(func() { every.Run(s.stop, s.cfg.PopularityInterval, s.refresh) })
	}
	return nil
}

// Stop ends the refresh loop and folds the likes received.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

// shutdown is Stop's first run.
func (s *Service) shutdown(ctx context.Context) error {
	close(s.stop)
	if s.endExpiry != nil {
		s.endExpiry()
	}
	s.wg.Wait()
	if err := s.pop.Stop(ctx); err != nil {
		s.log.Warn("list order lease not released; another process takes it over after its ttl", "err", err)
	}
	if s.likes != nil {
		if err := s.likes.stopFold(ctx); err != nil {
			return err
		}
	}
	if s.det != nil {
		return s.det.Stop(ctx)
	}
	return nil
}

// refresh runs in every room process, every PopularityInterval: each feeds its own hot-room
// tracker. Only the holder of popularityLease writes the list order (refreshPopularity).
func (s *Service) refresh() {
	if err := s.refreshPopularity(context.Background()); err != nil {
		s.log.Warn("popularity refresh failed", "err", err)
	}
}

// refreshPopularity feeds the online counts of live rooms to this process's hot-room tracker
// and, in the one process of the cluster holding popularityLease, copies them into the list
// order and shares them (Deps.Pins) with every process's tracker, BFFs included. The
// stored order is one for the cluster, and every process writing the same counts would only
// multiply the writes.
func (s *Service) refreshPopularity(ctx context.Context) error {
	ids, err := s.store.LiveIDs(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	counts, err := s.deps.Counter.Counts(ctx, ids)
	if err != nil {
		return err
	}
	pop := make(map[int64]int64, len(ids))
	for _, id := range ids {
		pop[id] = counts[id].Online
	}
	s.hot.Update(pop)
	s.pop.Do(ctx, func(ctx context.Context) {
		if err = s.store.SetPopularity(ctx, pop); err != nil || s.deps.Pins == nil {
			return
		}
		err = s.deps.Pins.PutCounts(ctx, pop, countsTTL(s.cfg.PopularityInterval))
	})
	return err
}

// Hot is the tracker of hot rooms, fed with the online counts of live rooms; callers ask it
// with their own threshold.
func (s *Service) Hot() *hotroom.Tracker { return s.hot }

// Get implements Client.
func (s *Service) Get(ctx context.Context, id int64) (Room, error) {
	s.m.reads.Inc()
	r, err := s.read(ctx, id)
	if err != nil {
		return Room{}, err
	}
	return s.withGlobal(r), nil
}

// SetTag implements Client.
func (s *Service) SetTag(ctx context.Context, id int64, tag string, on bool) error {
	if tag == "" || len(tag) > 32 {
		return ErrBadRoom.Withf("tag must be 1 to 32 characters")
	}
	s.tagMu.Lock()
	defer s.tagMu.Unlock()
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	has := slices.Contains(r.Tags, tag)
	if has == on {
		return nil
	}
	tags := slices.DeleteFunc(slices.Clone(r.Tags), func(t string) bool { return t == tag })
	if on {
		tags = append(tags, tag)
		slices.Sort(tags)
	}
	if err := s.store.SetTags(ctx, id, tags, s.now().UnixMilli()); err != nil {
		return err
	}
	s.invalidate(ctx, id)
	return nil
}

// Create opens a room for owner.
func (s *Service) Create(ctx context.Context, owner int64, f Fields) (Room, error) {
	if err := f.validate(true, *s.words.Load(), s.cfg.CoverHosts); err != nil {
		return Room{}, err
	}
	now := s.now().UnixMilli()
	r, err := s.store.Create(ctx, Room{OwnerUID: owner, Title: *f.Title, Area: deref(f.Area), Cover: deref(f.Cover),
		StreamKey: newStreamKey(), CreatedAt: now, UpdatedAt: now}, s.cfg.MaxRoomsPerUser)
	if err != nil {
		return Room{}, err
	}
	s.m.created.Inc()
	s.log.InfoContext(ctx, "room created", "room", r.ID, "owner", owner)
	return r, nil
}

// Update changes title, area or cover; only the owner may. A cover equal to the stored one
// (a client sending back what it read, e.g. the uploaded cover's path) is left unchanged.
func (s *Service) Update(ctx context.Context, uid, id int64, f Fields) (Room, error) {
	cur, err := s.owned(ctx, uid, id)
	if err != nil {
		return Room{}, err
	}
	if f.Cover != nil && *f.Cover == cur.Cover {
		f.Cover = nil
	}
	if err := f.validate(false, *s.words.Load(), s.cfg.CoverHosts); err != nil {
		return Room{}, err
	}
	r, err := s.store.Update(ctx, id, Patch{Title: f.Title, Area: f.Area, Cover: f.Cover}, s.now().UnixMilli())
	if err != nil {
		return Room{}, err
	}
	if f.Cover != nil && isCoverPath(id, cur.Cover) {
		// The uploaded image is no longer the cover: stop serving it. Best effort, the
		// change is stored; a leftover image is only reachable by its old URL.
		if err := s.store.DeleteCover(ctx, id); err != nil {
			s.log.WarnContext(ctx, "old room cover not deleted", "room", id, "err", err)
		}
	}
	s.invalidate(ctx, id)
	s.push(ctx, id, noticeChange, protocol.RoomChange{Title: r.Title, AreaName: r.Area}.JSON())
	return r, nil
}

// SetLive starts or stops the stream; only the owner may. It is the manual switch: the video
// (SetStreamLive) changes the same status, and the latest change wins. A room switched live
// here is never expired for want of confirmations (ConfirmStreams).
func (s *Service) SetLive(ctx context.Context, uid, id int64, on bool) (Room, error) {
	r, err := s.owned(ctx, uid, id)
	if err != nil {
		return Room{}, err
	}
	return s.setLive(ctx, r, on, false)
}

// SetStreamLive implements Client. A publish start in a room already live (by the manual
// switch) makes it live by its video from now on, without a second LIVE.
func (s *Service) SetStreamLive(ctx context.Context, id int64, on bool) error {
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if on && r.Live {
		return s.store.StreamLive(ctx, id, s.now().UnixMilli())
	}
	_, err = s.setLive(ctx, r, on, true)
	return err
}

// setLive stores a change of r's live status (stream: made by the video) and tells its
// viewers.
func (s *Service) setLive(ctx context.Context, r Room, on, stream bool) (Room, error) {
	if r.Live == on {
		return r, nil
	}
	id := r.ID
	r, err := s.store.SetLive(ctx, id, on, stream, s.now().UnixMilli())
	if err != nil {
		return Room{}, err
	}
	s.liveChanged(ctx, id, on)
	return r, nil
}

// liveChanged tells a stored change of the room's live status to its caches, its viewers,
// the metrics and the log.
func (s *Service) liveChanged(ctx context.Context, id int64, on bool) {
	s.invalidate(ctx, id)
	if on {
		s.m.liveChanges.WithLabelValues("live").Inc()
		s.push(ctx, id, noticeStatus, protocol.LiveMsg(id))
	} else {
		s.m.liveChanges.WithLabelValues("preparing").Inc()
		s.push(ctx, id, noticeStatus, protocol.PreparingMsg(id))
	}
	s.log.InfoContext(ctx, "live status changed", "room", id, "live", on)
}

// StreamRoom implements Client.
func (s *Service) StreamRoom(ctx context.Context, key string) (int64, error) {
	if key == "" || len(key) > 64 {
		return 0, ErrBadStreamKey
	}
	id, err := s.store.ByStreamKey(ctx, key)
	if errors.Is(err, ErrRoomNotFound) {
		return 0, ErrBadStreamKey
	}
	return id, err
}

// RotateStreamKey issues a new stream key; the old one stops working at once: the
// functions given to OnKeyRotated learn it before this returns.
func (s *Service) RotateStreamKey(ctx context.Context, uid, id int64) (Room, error) {
	if _, err := s.owned(ctx, uid, id); err != nil {
		return Room{}, err
	}
	r, err := s.store.SetStreamKey(ctx, id, newStreamKey(), s.now().UnixMilli())
	if err != nil {
		return r, err
	}
	s.invalidate(ctx, id)
	s.rotatedMu.Lock()
	fns := s.rotated
	s.rotatedMu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
	return r, nil
}

// OnKeyRotated registers fn to be told, in process, of every room whose stream key was
// rotated (the media component cuts that room's publisher). Remote callers find out by
// asking StreamRoom again.
func (s *Service) OnKeyRotated(fn func(id int64)) {
	s.rotatedMu.Lock()
	defer s.rotatedMu.Unlock()
	s.rotated = append(s.rotated, fn)
}

// VideoViewers counts the video viewers of rooms (the media component, in this process or
// over gRPC); rooms with none may be left out.
type VideoViewers func(ctx context.Context, ids []int64) (map[int64]int64, error)

// CountVideoViewers gives the stats module a count of each room's video viewers; without it,
// or when it fails, stats carry no video_viewers.
func (s *Service) CountVideoViewers(fn VideoViewers) {
	s.videoViewers.Store(&fn)
}

// Mine returns the caller's room.
func (s *Service) Mine(ctx context.Context, uid int64) (Room, error) {
	return s.store.ByOwner(ctx, uid)
}

func (s *Service) owned(ctx context.Context, uid, id int64) (Room, error) {
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return Room{}, err
	}
	if r.OwnerUID != uid {
		return Room{}, ErrNotOwner
	}
	return r, nil
}

func newStreamKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "live_" + hex.EncodeToString(b)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
