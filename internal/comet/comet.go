// Package comet holds client connections (WebSocket at /sub and raw TCP)
// speaking Bilibili's live message-stream protocol, and writes pushes into
// rooms. Connections are sharded into buckets by room so joins, leaves and
// pushes in different rooms never share a lock; a room's batch is encoded at
// most once per protocol version present in the room and the same bytes (and,
// for WebSocket, the same frame) are queued to every connection in it. An
// authenticated connection waiting for input is parked in an epoll poller
// with no goroutine (on Linux, comet.poller); a packet wakes a short-lived
// reader that answers it and parks the connection again (elsewhere, or with
// the poller off, each connection keeps one reader goroutine). Its bounded
// send queue and writer goroutine exist only while it has something to
// write, so an idle connection costs little more than its struct and read
// buffers. A connection that falls behind is closed, never waited for.
package comet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/tlsx"
)

// Logic is what comet needs from the logic component.
type Logic interface {
	// Connect authenticates an auth packet. token is the "key" field; uid and roomID as the
	// client sent them. It returns the uid the connection acts as (0 = guest), the token's
	// session id (positive: a guest is one viewer per session, and Disconnect hands it back
	// so the token's connection slot is freed) and the room's current popularity. An error
	// means reject (-101); logic also refuses a token that holds its maximum of connections.
	Connect(ctx context.Context, server string, token string, uid, roomID int64) (connUID, session, popularity int64, err error)
	// Disconnect tells logic a connection Connect accepted has left.
	Disconnect(ctx context.Context, server string, uid, roomID, session int64) error
	// ReportOnline sends this comet's per-room counts of distinct viewers (every
	// report_interval) and which of the watched users hold a connection here (users: of
	// the watched list the previous report returned), and returns the global per-room
	// counts (the popularity heartbeat replies carry) and the users watched now.
	ReportOnline(ctx context.Context, server, addr string, rooms map[int64]int64, users []int64) (global map[int64]int64, watched []int64, err error)
}

// Deps are the comet's collaborators.
type Deps struct {
	Logger   *slog.Logger          // nil discards logs
	Registry prometheus.Registerer // nil keeps metrics private to the Service
	Logic    Logic                 // required
	// Conns is the process-wide connection budget the TCP listener shares with the other
	// listeners of the process (nil = no total cap).
	Conns *connlimit.Total
}

// ErrClosed is returned when the Service is stopped or not started.
var ErrClosed = errors.New("comet: service not running")

const (
	stateNew int32 = iota
	stateRunning
	stateStopped
)

// Service is one comet node.
type Service struct {
	cfg     Config
	log     *slog.Logger
	logic   Logic
	m       *metrics
	buckets []*bucket
	wsUp    ws.HTTPUpgrader
	ips     *connlimit.Limiter // per-IP cap of both transports; the TCP listener's total
	certs   *tlsx.Certs        // TLS of the TCP listener; nil: plain

	ctx    context.Context // canceled by Stop; parent of loops and logic calls
	cancel context.CancelFunc

	mu    sync.Mutex // guards state transitions, ln and wg.Add against Stop
	state int32
	ln    net.Listener
	wg    sync.WaitGroup

	connSeq atomic.Uint64 // spreads connections in auth over buckets
	// watched are the users logic asks this comet about (its last report's answer)
	watched atomic.Pointer[[]int64]

	clock      *writerClock  // times out idle writers (writer.go)
	writerTick time.Duration // clock period; tests shorten it before Start
	// fanoutWorkers is how many goroutines one push writes from (deliver.go):
	// one per core.
	fanoutWorkers int

	pollers []*poller // set by Start; empty: a reader goroutine per connection
	epoch   time.Time // origin of now (conn.lastRead)
}

// New validates cfg and builds a Service; it starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logic == nil {
		return nil, errors.New("comet: Deps.Logic is required")
	}
	if cfg.ServerID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("comet: server_id empty and no host name: %w", err)
		}
		cfg.ServerID = host
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		log:     log, // the caller names the component (app adds component=comet)
		logic:   deps.Logic,
		m:       m,
		buckets: make([]*bucket, cfg.Buckets),
		wsUp:    ws.HTTPUpgrader{Timeout: cfg.WriteTimeout},

		clock:         newWriterClock(),
		writerTick:    defaultWriterTick,
		epoch:         time.Now(),
		fanoutWorkers: max(1, runtime.GOMAXPROCS(0)),
	}
	if s.ips, err = connlimit.New(connlimit.Options{Listener: "comet", PerIP: cfg.MaxConnsPerIP,
		Total: deps.Conns, Logger: log, Registry: reg, OnRefuse: func(reason string) {
			s.m.dropped.WithLabelValues(refuseReason(reason)).Inc()
		}}); err != nil {
		return nil, err
	}
	for i := range s.buckets {
		s.buckets[i] = newBucket()
	}
	if cfg.TLSCertFile != "" && cfg.TCPAddr != "" {
		if s.certs, err = tlsx.Load(cfg.TLSCertFile, cfg.TLSKeyFile, log); err != nil {
			return nil, fmt.Errorf("comet: %w", err)
		}
		if err := reg.Register(tlsx.ExpiryGauge("comet", s.certs)); err != nil {
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start opens the TCP listener (unless tcp_addr is empty) and starts the
// accept, report and writer-clock loops and the pollers. It returns once the
// listener is bound.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return fmt.Errorf("comet: start: %w", ErrClosed)
	}
	if err := s.newPollers(); err != nil {
		return err
	}
	if s.cfg.TCPAddr != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", s.cfg.TCPAddr)
		if err != nil {
			s.closePollers()
			return fmt.Errorf("comet: listen %s: %w", s.cfg.TCPAddr, err)
		}
		s.ln = s.ips.Listen(ln)
		if s.certs != nil {
			s.ln = tls.NewListener(s.ln, s.certs.ServerConfig())
		}
		s.wg.Add(1)
		go s.acceptLoop(s.ln)
		s.log.Info("comet listening", "tcp_addr", ln.Addr().String(), "server_id", s.cfg.ServerID)
	}
	s.startPollers()
	s.wg.Add(2)
	go s.reportLoop()
	go s.clockLoop()
	s.state = stateRunning
	return nil
}

// Stop closes the listener and every connection (logic is told each one
// left), stops the report loop and the pollers and waits for every
// goroutine, or until ctx ends.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.state == stateStopped {
		s.mu.Unlock()
		return nil
	}
	s.state = stateStopped
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.mu.Unlock()
	s.cancel()
	n := 0
	for _, b := range s.buckets {
		n += b.closeAll()
	}
	s.stopPollers() // every connection is closed: none can park any more
	s.log.Info("comet stopping", "connections", n)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("comet: stop: %w", ctx.Err())
	}
}

// enter registers a connection (a slot in s.wg until end) unless the Service
// is not running.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return false
	}
	s.wg.Add(1)
	return true
}

// TCPAddr is the bound TCP address after Start, nil when TCP is disabled.
func (s *Service) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// ServerID is the name this comet reports to logic.
func (s *Service) ServerID() string { return s.cfg.ServerID }

// Online returns this comet's count of distinct viewers per room (see conn.viewer).
func (s *Service) Online() map[int64]int64 {
	out := make(map[int64]int64)
	for _, b := range s.buckets {
		b.mu.RLock()
		for id, r := range b.rooms {
			out[id] = int64(len(r.viewers))
		}
		b.mu.RUnlock()
	}
	return out
}

func (s *Service) bucketFor(roomID int64) *bucket {
	return s.buckets[uint64(roomID)%uint64(len(s.buckets))]
}
