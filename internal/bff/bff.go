// Package bff is the interface layer: one call per scene. GET /api/room/enter returns
// everything a room page shows, GET /api/home the room list with what its cards show and
// GET /api/im/inbox what the inbox opens with (inbox.go). The
// room is read once and handed to the modules, which are fetched concurrently, each within its
// own timeout; a module that fails or is late is sent as {"degraded": true} and the rest of the
// page is returned. Modules a room's TAGs say are empty, or that a feature switch turned off,
// cost no call. The BFF owns no data: every module comes from its component's Client, in this
// process or over gRPC.
package bff

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// Deps are the components the pages are made of.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Rooms    room.Client
	Gifts    gift.Client
	Danmaku  danmaku.Client
	// DanmuInfo issues the long-connection token and hosts of a room the BFF has already
	// read, for the request's user (logic.API.DanmuInfoFor).
	DanmuInfo func(r *http.Request, roomID int64) (logic.DanmuInfo, error)
	// Hot says which rooms are hot (online counts and pins, shared by the cluster); nil = no
	// page is kept in memory.
	Hot *hotroom.Tracker
	// Chats, Groups and Notices are the IM components the inbox is made of; each may be nil
	// (no such component in this process nor named in peers): its modules are then null.
	Chats   chat.Client
	Groups  group.Client
	Notices notice.Client
	// Accounts answers the anchor's follow relation on the room page (nil: that module is null).
	Accounts account.Client
}

// Service serves the page routes.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	m    *metrics
	// calls are the module calls under way, some perhaps past their page (a late answer is
	// dropped, but the call is waited for on Stop).
	calls inflight

	hot   hotPages // hot rooms' pages kept in memory (hot.go)
	loops sync.WaitGroup
	halt  context.CancelFunc // ends hotLoop
}

// inflight counts calls under way; unlike a WaitGroup, it may be waited for with a deadline
// and still counted afterwards.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n--; f.n == 0 {
		close(f.idle)
	}
}

// none is closed once no call is under way.
func (f *inflight) none() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return f.idle
}

// New builds the BFF; it starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Rooms == nil || deps.Gifts == nil || deps.Danmaku == nil || deps.DanmuInfo == nil {
		return nil, errors.New("bff: Rooms, Gifts, Danmaku and DanmuInfo are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger, m: newMetrics(deps.Registry), halt: func() {}}
	s.hot.pages.Store(&map[int64]*hotPage{})
	s.hot.kick = make(chan struct{}, 1)
	s.hot.again = make(chan struct{}, 1)
	s.hot.dirty, s.hot.gen = map[int64]bool{}, map[int64]uint64{}
	return s, nil
}

// Start begins keeping hot rooms' pages in memory (when Deps.Hot is set and
// bff.hot_max_rooms is not 0); the BFF owns no other state.
func (s *Service) Start(context.Context) error {
	if s.deps.Hot == nil || s.cfg.HotMaxRooms == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.halt = cancel
	s.loops.Add(1)
	go s.hotLoop(ctx)
	return nil
}

// Stop ends the refresh of hot pages and waits, until ctx ends, for module calls still under
// way (each ends with its timeout unless its component ignores its context). The routes are
// gone by then: the gateway stops first.
func (s *Service) Stop(ctx context.Context) error {
	s.halt()
	s.loops.Wait()
	select {
	case <-s.calls.none():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bff: module calls still under way: %w", ctx.Err())
	}
}

// Register mounts the page routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/room/enter", httpx.Handle(s.log, s.handleEnter))
	mux.Handle("GET /api/home", httpx.Handle(s.log, s.handleHome))
	mux.Handle("GET /api/im/inbox", httpx.Handle(s.log, s.handleInbox))
}

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }
