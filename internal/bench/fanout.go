// Package bench is zhibo's load generator: `zhibo bench fanout` opens many viewer
// connections to rooms on a platform running on this machine, sends comments at a given
// rate, and reports connections, delivered messages per second, loss checked per sender on
// a sample of connections, latency from send to receive, and the server's memory per
// connection.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Deps are what a run writes to besides its report.
type Deps struct {
	Logger *slog.Logger
	// Progress receives the progress bar (a terminal) or periodic lines; nil means none.
	Progress io.Writer
	// Terminal says Progress is a terminal, so the bar redraws one line.
	Terminal bool
}

// Fanout is one configured run.
type Fanout struct {
	cfg  Config
	deps Deps
}

// New checks cfg; it contacts nothing.
func New(cfg Config, deps Deps) (*Fanout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Fanout{cfg: cfg, deps: deps}, nil
}

// benchRoom is a live room of the run and the guest tokens its viewers join it with: the
// room's ord-th viewer uses tokens[ord/conns_per_token] (see run.token).
type benchRoom struct {
	id     int64
	tokens []string
}

// run is the state of one Run; counters are atomics shared by readers, senders and the
// monitor.
type run struct {
	cfg   Config
	log   *slog.Logger
	api   *apiClient
	tag   string
	cache *frameCache
	hist  *Hist

	rooms       []benchRoom
	sendersList []*sender
	senders     int
	wsURL       string
	wsURLs      []string // from danmu-info's host list (hosts)
	tcpAddrs    []string
	sources     []*net.TCPAddr

	startNS     int64 // comments stamped before this are not ours
	sendStartNS atomic.Int64

	// Slow viewers; written by Run's goroutine only.
	slow       []*slowConn
	slowFailed int
	slowErr    string

	readDeadline time.Time

	mu      sync.Mutex
	conns   []*viewerConn
	readers sync.WaitGroup
	polls   *pollers // nil: a reader goroutine per connection
	closing atomic.Bool

	tokensWant, tokensGot   atomic.Int64 // set-up: guest tokens to fetch, fetched
	up, dialFailed, dropped atomic.Int64
	sent, sendErrors        atomic.Int64
	firstDialErr            atomic.Value // string
	firstSendErr            atomic.Value // string
	phase                   atomic.Value // string
}

// Run performs the whole test — set-up, connecting, sending, draining — and returns the
// report. It stops by itself: every phase is bounded by the configuration, and ctx ends it
// early (the report then covers what ran).
func (f *Fanout) Run(ctx context.Context) (*Report, error) {
	cfg := f.cfg
	hard := cfg.SetupTimeout + cfg.Duration + cfg.Drain + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, hard)
	defer cancel()

	rep := &Report{Config: cfg, Started: time.Now().UTC()}
	r := &run{cfg: cfg, log: f.deps.Logger, cache: newFrameCache(), hist: NewHist(4 * runtime.GOMAXPROCS(0)),
		startNS: time.Now().UnixNano(), readDeadline: time.Now().Add(hard)}
	r.phase.Store("setup")
	if err := r.prepare(ctx, rep); err != nil {
		return nil, err
	}
	mon := newMonitor(r, f.deps, rep)
	monDone := make(chan struct{})
	mctx, mstop := context.WithCancel(context.Background())
	go func() { defer close(monDone); mon.loop(mctx) }()
	stopMonitor := func() { mstop(); <-monDone }

	setupStart := time.Now()
	if err := r.setup(ctx); err != nil {
		stopMonitor()
		return nil, err
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	publish, closeQueue, err := r.publisher(ctx)
	if err != nil {
		stopMonitor()
		return nil, err
	}
	defer closeQueue()

	rep.RSS.PID = cfg.PID
	if cfg.PID > 0 {
		if rep.RSS.BeforeKB, err = readRSS(cfg.PID); err != nil {
			stopMonitor()
			return nil, err
		}
	}

	r.phase.Store("connect")
	if cfg.Poll {
		if r.polls, err = newPollers(r); err != nil {
			r.log.Warn("reading with a goroutine per connection", "err", err)
		}
	}
	connStart := time.Now()
	cctx, ccancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	r.connect(cctx)
	ccancel()
	rep.ConnectSeconds = time.Since(connStart).Seconds()
	if cfg.PID > 0 {
		rep.RSS.AfterKB, _ = readRSS(cfg.PID)
	}
	hctx, hstop := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { r.heartbeats(hctx) })
	if cfg.Slow > 0 {
		r.openSlow(hctx, &hb)
	}

	var sendSeconds float64
	if r.up.Load() > 0 && ctx.Err() == nil {
		r.phase.Store("send")
		sendStart := time.Now()
		r.sendStartNS.Store(sendStart.UnixNano())
		cpu0 := r.cpu(os.Getpid(), cfg.PID)
		sctx, scancel := context.WithTimeout(ctx, cfg.Duration)
		if cfg.Rate > 0 {
			r.send(sctx, publish)
		} else {
			r.phase.Store("idle")
			<-sctx.Done()
		}
		scancel()
		sendSeconds = time.Since(sendStart).Seconds()
		cpu1 := r.cpu(os.Getpid(), cfg.PID)
		rep.CPU.Generator = (cpu1[0] - cpu0[0]).Seconds() / sendSeconds
		if cfg.PID > 0 {
			rep.CPU.Server = (cpu1[1] - cpu0[1]).Seconds() / sendSeconds
		}
		r.phase.Store("drain")
		r.drain(ctx)
	}
	if cfg.PID > 0 {
		rep.RSS.EndKB, _ = readRSS(cfg.PID)
	}
	hstop()
	hb.Wait()
	if cfg.Slow > 0 {
		sr := r.slowReport()
		rep.Slow = &sr
	}
	r.closeAll()
	stopMonitor()
	r.finish(rep, sendSeconds)
	if rep.Conns.Established == 0 {
		return rep, fmt.Errorf("no connection could be opened: %s", rep.Conns.FirstError)
	}
	return rep, nil
}

// cpu reads the CPU time used so far by each pid (0 for a pid that is 0 or unreadable).
func (r *run) cpu(pids ...int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, p := range pids {
		if p > 0 {
			out[i], _ = readCPU(p)
		}
	}
	return out
}

// drain waits until every expected message arrived or cfg.Drain has passed.
func (r *run) drain(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.hist.Snapshot().Total >= uint64(r.expectedDelivered()) && r.dropped.Load() == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectedDelivered is what the open connections should have received by now: every
// acknowledged comment of their room, once each.
func (r *run) expectedDelivered() int64 {
	perRoom := make([]int64, len(r.rooms))
	for _, s := range r.sendersList {
		perRoom[s.room] += s.acked.Load()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, c := range r.conns {
		n += perRoom[c.room]
	}
	return n
}
