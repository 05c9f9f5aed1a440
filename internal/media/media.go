// Package media is the video path of a room: encoders publish RTMP with the room's stream
// key, viewers play the room as HTTP-FLV or HLS on the web origin, and the room's live status
// follows the video. The media library sits behind Engine (lal today, lal.go).
package media

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/every"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Deps are the media component's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Rooms resolves stream keys and takes the live status (in process or over gRPC).
	Rooms room.Client
	// Conns is the process-wide connection budget (nil = no total cap).
	Conns *connlimit.Total
	// DataDir is the process's data directory; recordings go under <DataDir>/recordings
	// unless media.record_dir names another place.
	DataDir string
}

// Service is the media component.
type Service struct {
	cfg    Config
	deps   Deps
	node   string // names this process in its confirmations to room
	log    *slog.Logger
	m      *metrics
	engine Engine
	live   *liveStatus
	rec    *recorder // nil: no recording directory known (nothing recorded, nothing listed)

	mu   sync.Mutex
	addr net.Addr

	stopOnce sync.Once
	stopErr  error
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New builds the service; Start listens.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Logger == nil || deps.Registry == nil || deps.Rooms == nil {
		return nil, errors.New("media: Logger, Registry and Rooms are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, node: newNodeID(), log: deps.Logger, m: newMetrics(deps.Registry), stop: make(chan struct{})}
	s.live = newLiveStatus(deps.Rooms, cfg.OfflineGrace, s.log, s.m)
	hooks := Hooks{Authorize: s.authorize, Published: s.live.published, Unpublished: s.live.unpublished}
	dir := cfg.RecordDir
	if dir == "" && deps.DataDir != "" {
		dir = filepath.Join(deps.DataDir, "recordings")
	}
	if dir != "" {
		s.rec = newRecorder(dir, s.log, s.m)
	}
	if cfg.Record {
		if s.rec == nil {
			return nil, errors.New("media: media.record needs media.record_dir or a data directory")
		}
		hooks.Record = s.rec.start
	}
	s.engine = newLalEngine(cfg, hooks, s.log, s.m)
	return s, nil
}

// Start listens for encoders on media.rtmp_addr.
func (s *Service) Start(context.Context) error {
	lim, err := connlimit.New(connlimit.Options{Listener: "media_rtmp", PerIP: s.cfg.MaxConnsPerIP,
		Total: s.deps.Conns, Logger: s.log, Registry: s.deps.Registry})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.RTMPAddr)
	if err != nil {
		return fmt.Errorf("media: listen %s: %w", s.cfg.RTMPAddr, err)
	}
	s.live.start()
	if err := s.engine.Start(lim.Listen(ln)); err != nil {
		_ = ln.Close()
		return err
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	s.wg.Go(func() { every.Run(s.stop, s.cfg.KeyCheckInterval, s.checkKeys) })
	s.wg.Go(func() { every.Run(s.stop, s.cfg.LiveHeartbeat, s.confirm) })
	s.log.Info("rtmp listening", "addr", ln.Addr().String(), "node", s.node)
	return nil
}

// RTMPAddr is the RTMP listening address after Start.
func (s *Service) RTMPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// KeyRotated cuts the room's publisher at once; room in the same process calls it when the
// owner rotates the stream key.
func (s *Service) KeyRotated(id int64) { s.keyRotated(id) }

// Stop cuts every publisher and viewer; rooms whose video stopped are set preparing at once
// rather than after the grace, since no process would be left to do it.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.stopErr = s.engine.Stop(ctx)
		if s.rec != nil && s.stopErr == nil {
			s.stopErr = s.rec.wait(ctx) // the streams ended: their recordings are closing
		}
		s.live.stop(ctx)
	})
	return s.stopErr
}
