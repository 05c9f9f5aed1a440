// Package bff is the interface layer: one call per scene. GET /api/room/enter returns
// everything a room page shows and GET /api/home the room list with what its cards show. The
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
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/room"
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
}

// Service serves the page routes.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	m    *metrics
}

// New builds the BFF; it starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Rooms == nil || deps.Gifts == nil || deps.Danmaku == nil || deps.DanmuInfo == nil {
		return nil, errors.New("bff: Rooms, Gifts, Danmaku and DanmuInfo are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, deps: deps, log: deps.Logger, m: newMetrics(deps.Registry)}, nil
}

// Start has nothing to start: the BFF keeps no state.
func (s *Service) Start(context.Context) error { return nil }

// Stop has nothing to stop; module calls still running end with their timeouts.
func (s *Service) Stop(context.Context) error { return nil }

// Register mounts the page routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/room/enter", httpx.Handle(s.log, s.handleEnter))
	mux.Handle("GET /api/home", httpx.Handle(s.log, s.handleHome))
}

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }
