// Package logic is the control plane of the long-connection tier: it issues and checks
// connection tokens, aggregates the online counts every comet reports, tells rooms about their
// audience, and turns pushes from business components into messages on the durable push
// stream that the job component delivers.
package logic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	leasing "github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/presence"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/push"
)

// connKind separates connection tokens from session tokens signed with the same key.
const connKind = "conn"

// Deps are the logic component's collaborators. Logic needs no database and no other
// component: connection tokens carry everything Connect checks, so it scales out freely.
type Deps struct {
	Logger    *slog.Logger
	Registry  prometheus.Registerer
	Queue     *queue.Queue
	Publisher *push.Publisher // audience pushes go out through it
	Signer    *token.Signer
	// Presence shares comet reports with every logic and job of the cluster (nil = this
	// process's reports only: counts cover the comets that report here).
	Presence *presence.Table
	// Leases let one logic of a cluster push the audience counts to rooms (nil = this
	// process pushes them).
	Leases *leasing.Node
	Now    func() time.Time
}

// Service implements Counter and the comet's Logic interface.
type Service struct {
	stopOnce sync.Once // Stop runs once; later calls return its result
	stopErr  error

	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time
	m    *metrics

	view *presence.View // every comet's report, from every logic; the totals follow from it
	// users are the users watched across the cluster (the comets are told them), from presence
	users *presence.Users

	mu        sync.Mutex
	comets    map[string]cometReport // server id → last report here (its token slots live here)
	totals    map[int64]int64        // room → distinct viewers online, summed over the cluster's comets
	watched   map[int64]*watch       // room → distinct viewers who entered
	lastSent  map[int64]Count        // room → counts last pushed to it
	leases    map[int64]*lease       // connection token session id → its open connections
	entries   map[entryKey]int64     // (room, user) → last announced entry, unix ns
	roomRates map[int64]*roomRate    // room → announcements this second

	stop      chan struct{}
	stopWatch context.CancelFunc
	wg        sync.WaitGroup
}

type cometReport struct {
	rooms map[int64]int64
	users int // how many watched users the comet held at its last report
	at    time.Time
}

// New builds the service; Start creates the push stream and the count loop.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Queue == nil || deps.Publisher == nil || deps.Signer == nil {
		return nil, errors.New("logic: Queue, Publisher and Signer are required")
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	view := presence.NewView(cfg.CometTTL, presence.TTL)
	view.Now = now
	users := presence.NewUsers(cfg.CometTTL)
	users.Now = now
	return &Service{cfg: cfg, deps: deps, log: deps.Logger, now: now, m: newMetrics(deps.Registry), view: view, users: users,
		comets: map[string]cometReport{}, totals: map[int64]int64{}, watched: map[int64]*watch{},
		lastSent: map[int64]Count{}, leases: map[int64]*lease{}, entries: map[entryKey]int64{},
		roomRates: map[int64]*roomRate{}, stop: make(chan struct{})}, nil
}

// Start creates the push stream and starts the count loop.
func (s *Service) Start(ctx context.Context) error {
	if err := push.EnsureStream(ctx, s.deps.Queue); err != nil {
		return fmt.Errorf("logic: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	if p := s.deps.Presence; p != nil {
		ready, err := p.Watch(bg, func(ev presence.Event) {
			s.users.Apply(ev)
			old, replaced := s.view.Apply(ev)
			if replaced {
				s.mu.Lock()
				s.addReport(old, ev.Report)
				s.mu.Unlock()
			}
		})
		if err != nil {
			return fmt.Errorf("logic: %w", err)
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.wg.Add(1)
	go s.loop()
	if s.cfg.CountInterval > 0 {
		// The audience pushes go out from one logic of the cluster: every logic has the same
		// online totals (presence), and one WATCHED_CHANGE per room and interval is enough.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.deps.Leases.Run(bg, "logic-counts", s.cfg.CountInterval, s.pushCounts)
		}()
	}
	return nil
}

// Stop ends the count loop.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

// shutdown is Stop's first run.
func (s *Service) shutdown(ctx context.Context) error {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	close(s.stop)
	s.wg.Wait()
	return nil
}

// loop runs in every logic process and needs no lease: the comets it expires, the entries it
// sweeps and the counts it pushes are this process's own state, built from the reports and
// connections it received. (With several logic processes each knows the comets that report to
// it; merging their counts is not something a lease would do — docs/operations.md.)
func (s *Service) loop() {
	defer s.wg.Done()
	every := s.cfg.CountInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	sw := time.NewTicker(sweepEvery)
	defer sw.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-sw.C:
			s.sweep()
		case <-t.C:
			s.expireComets()
		}
	}
}

// Connect checks an auth packet: the token must be for this room, and for this uid unless the
// client sent uid 0 (many clients do; the token's uid is used), and must not already hold
// max_conns_per_token connections. Room 0 is a signed-in user's own channel (a token from
// GET /api/channel): it gets what is pushed to the user and counts in no room. It returns the uid the connection acts as, the token's
// session id (Disconnect hands it back) and the room's popularity. The viewer (see
// viewerKey) counts as watched once, and a logged-in viewer's entry is announced with
// INTERACT_WORD at most once per entry_interval per room.
func (s *Service) Connect(ctx context.Context, server, tok string, uid, roomID int64) (int64, int64, int64, error) {
	now := s.now()
	c, err := s.deps.Signer.Verify(connKind, tok, now)
	if err != nil || c.RoomID != roomID || (uid != 0 && uid != c.UID) || c.SID <= 0 || (roomID == 0 && c.UID <= 0) {
		s.m.connects.WithLabelValues(connectInvalid).Inc()
		return 0, 0, 0, ErrConnRejected
	}
	if roomID == 0 { // a user's own channel: no audience, no entry, no room to route
		s.mu.Lock()
		ok := s.takeSlot(c.SID, c.Exp, server)
		s.mu.Unlock()
		if !ok {
			s.m.connects.WithLabelValues(connectTokenBusy).Inc()
			return 0, 0, 0, ErrConnRejected
		}
		s.m.connects.WithLabelValues(connectOK).Inc()
		return c.UID, c.SID, 0, nil
	}
	s.mu.Lock()
	if !s.takeSlot(c.SID, c.Exp, server) {
		s.mu.Unlock()
		s.m.connects.WithLabelValues(connectTokenBusy).Inc()
		return 0, 0, 0, ErrConnRejected
	}
	s.watchedIn(roomID).add(viewerKey(c.UID, c.SID), now)
	pop := s.totals[roomID] + 1 // this connection is not in a report yet
	entry := ""
	if c.UID > 0 {
		entry = s.admitEntry(roomID, c.UID, now)
	}
	s.mu.Unlock()
	s.m.connects.WithLabelValues(connectOK).Inc()
	s.announceRoute(ctx, server, roomID, now)
	if entry != "" {
		s.m.entries.WithLabelValues(entry).Inc()
	}
	if entry == entryAnnounced {
		msg := protocol.InteractWord{UID: c.UID, Uname: c.Name, MsgType: 1, RoomID: roomID, Timestamp: now}.JSON()
		if err := s.deps.Publisher.PushRoom(ctx, roomID, msg); err != nil {
			s.log.WarnContext(ctx, "entry announcement failed", "room", roomID, "err", err)
		}
	}
	return c.UID, c.SID, pop, nil
}

// Disconnect is told when a connection leaves: the token's slot on that comet is free again.
// Counts follow from the comet's next report. Repeating it, or losing it, is harmless: a lost
// one holds the slot until the comet stops reporting or the token expires.
func (s *Service) Disconnect(_ context.Context, server string, _, _, session int64) error {
	s.m.disconnects.Inc()
	s.mu.Lock()
	s.releaseSlot(session, server)
	s.mu.Unlock()
	return nil
}

// ReportOnline stores one comet's per-room counts of distinct viewers (and shares them with
// every logic and job through presence) and returns the cluster-wide totals of those rooms
// (summed over comets: a viewer connected to two comets at once counts on both). addr is
// where other processes reach the comet ("" = nowhere: it runs beside its only job). users
// are the watched users the comet holds a connection of, shared through presence when there
// are any (and once when there are none again); watched are the users watched now
// (presence.Users.Tracked), for the comet's next report.
func (s *Service) ReportOnline(ctx context.Context, server, addr string, rooms map[int64]int64, users []int64) (map[int64]int64, []int64, error) {
	r := presence.Report{Server: server, Addr: addr, Rooms: rooms, At: s.now()}
	s.mu.Lock()
	hadUsers := s.comets[server].users > 0
	s.mu.Unlock()
	if p := s.deps.Presence; p != nil {
		if err := p.Put(ctx, r); err != nil {
			s.m.presenceErrs.Inc()
			s.log.WarnContext(ctx, "presence: report not shared", "server", server, "err", err)
		}
		if len(users) > 0 || hadUsers {
			if err := p.PutUsers(ctx, server, users); err != nil {
				s.m.presenceErrs.Inc()
				s.log.WarnContext(ctx, "presence: connected users not shared", "server", server, "err", err)
			}
		}
	}
	old, replaced := s.view.Apply(presence.Event{Server: presence.Key(server), Report: r, At: r.At})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.comets[server] = cometReport{rooms: rooms, users: len(users), at: r.At}
	if replaced {
		s.addReport(old, r)
	}
	out := make(map[int64]int64, len(rooms))
	for id := range rooms {
		out[id] = s.totals[id]
	}
	return out, s.users.Tracked(), nil
}

// addReport moves the totals from a comet's previous report to its new one, in the time of
// the two reports' rooms; the full recount of every count interval takes stale reports out.
// s.mu is held.
func (s *Service) addReport(old, r presence.Report) {
	if s.view.Fresh(old) {
		for id, n := range old.Rooms {
			if s.totals[id] -= n; s.totals[id] <= 0 {
				delete(s.totals, id)
			}
		}
	}
	for id, n := range r.Rooms {
		s.totals[id] += n
	}
}

// recount takes the totals from the presence view (every report, once per count interval);
// s.mu is held.
func (s *Service) recount() {
	s.totals = s.view.Totals()
	s.m.comets.Set(float64(len(s.view.Comets())))
	s.m.rooms.Set(float64(len(s.totals)))
}

func (s *Service) expireComets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := s.now().Add(-s.cfg.CometTTL)
	for id, r := range s.comets {
		if r.at.Before(cut) {
			delete(s.comets, id)
			s.dropServerSlots(id)
			s.log.Warn("comet stopped reporting here; its counts and token slots are dropped", "server", id)
		}
	}
	s.recount() // reports elsewhere age out of the totals too
}

// Counts implements Counter.
func (s *Service) Counts(_ context.Context, ids []int64) (map[int64]Count, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]Count, len(ids))
	for _, id := range ids {
		c := Count{Online: s.totals[id]}
		if w := s.watched[id]; w != nil {
			c.Watched = w.count()
		}
		out[id] = c
	}
	return out, nil
}

// pushCounts sends WATCHED_CHANGE and ONLINE_RANK_COUNT to rooms whose audience changed.
func (s *Service) pushCounts(ctx context.Context) {
	type due struct {
		id int64
		c  Count
	}
	var todo []due
	s.mu.Lock()
	for id, w := range s.watched {
		c := Count{Online: s.totals[id], Watched: w.count()}
		if c != s.lastSent[id] {
			todo = append(todo, due{id, c})
			s.lastSent[id] = c
		}
	}
	s.mu.Unlock()
	for _, d := range todo {
		err := s.deps.Publisher.PushRoom(ctx, d.id, protocol.WatchedChange{Num: d.c.Watched}.JSON(),
			protocol.OnlineRankCount{Count: d.c.Online}.JSON())
		if err != nil {
			s.log.Warn("count push failed", "room", d.id, "err", err)
		}
	}
}

// announceRoute makes sure the jobs route roomID to server before the connection is admitted:
// the first viewer of a room on a comet is published as a join, ahead of the comet's next
// report, so no message to the room after this viewer's admission goes past its comet.
func (s *Service) announceRoute(ctx context.Context, server string, roomID int64, now time.Time) {
	key := presence.Key(server)
	if s.view.Holds(key, roomID) {
		return
	}
	if p := s.deps.Presence; p != nil {
		if err := p.Join(ctx, server, roomID); err != nil {
			s.m.presenceErrs.Inc()
			s.log.WarnContext(ctx, "presence: join not shared", "server", server, "room", roomID, "err", err)
			return // its report carries the room within a report interval
		}
	}
	s.view.Apply(presence.Event{Server: key, Join: true, Room: roomID, At: now})
}
