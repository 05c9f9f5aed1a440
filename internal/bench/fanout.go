// Package bench is zhibo's load generator: `zhibo bench fanout` opens many viewer
// connections to rooms on a platform running on this machine, sends comments at a given
// rate, and reports connections, delivered messages per second, loss checked per sender on
// a sample of connections, latency from send to receive, and the server's memory per
// connection.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
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

// benchRoom is a live room of the run and the guest token viewers join it with.
type benchRoom struct {
	id    int64
	token string
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
	tcpAddr     string
	sources     []*net.TCPAddr

	startNS      int64 // comments stamped before this are not ours
	readDeadline time.Time

	mu      sync.Mutex
	conns   []*viewerConn
	readers sync.WaitGroup
	closing atomic.Bool

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

	var sendSeconds float64
	if r.up.Load() > 0 && ctx.Err() == nil {
		r.phase.Store("send")
		sendStart := time.Now()
		cpu0 := r.cpu(os.Getpid(), cfg.PID)
		sctx, scancel := context.WithTimeout(ctx, cfg.Duration)
		r.send(sctx, publish)
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
	r.closeAll()
	stopMonitor()
	r.finish(rep, sendSeconds)
	if rep.Conns.Established == 0 {
		return rep, fmt.Errorf("no connection could be opened: %s", rep.Conns.FirstError)
	}
	return rep, nil
}

// prepare derives the addresses and raises the open-file limit.
func (r *run) prepare(ctx context.Context, rep *Report) error {
	u, err := url.Parse(r.cfg.URL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	dialHost := host
	if dialHost == "localhost" {
		dialHost = "127.0.0.1"
	}
	wsScheme := "ws"
	if u.Scheme == "https" {
		wsScheme = "wss"
	}
	r.wsURL = wsScheme + "://" + net.JoinHostPort(dialHost, u.Port()) + "/sub"
	if u.Port() == "" {
		r.wsURL = wsScheme + "://" + dialHost + "/sub"
	}
	r.sources = sourceAddrs(r.cfg.Sources, r.cfg.Conns, net.ParseIP(dialHost))
	r.senders = r.cfg.Senders
	if r.senders == 0 {
		per := r.cfg.SenderRate
		if r.cfg.Queue != "" {
			per = max(per, 100)
		}
		r.senders = int(math.Ceil(r.cfg.Rate / per))
	}
	r.senders = max(r.senders, r.cfg.Rooms)
	if r.cfg.Queue == "" && r.cfg.Rate/float64(r.senders) > r.cfg.SenderRate*1.0001 {
		return fmt.Errorf("senders %d at sender_rate %v cannot reach rate %v", r.senders, r.cfg.SenderRate, r.cfg.Rate)
	}
	note, err := raiseFileLimit(uint64(r.cfg.Conns + r.senders + 64))
	if err != nil {
		return err
	}
	if note != "" {
		rep.Notes = append(rep.Notes, note)
		r.log.Info(note)
	}
	tr := &http.Transport{MaxIdleConns: r.senders + 64, MaxIdleConnsPerHost: r.senders + 64, IdleConnTimeout: time.Minute}
	r.api = &apiClient{base: u.Scheme + "://" + u.Host, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	r.tag = "zb" + hex.EncodeToString(tag[:])
	return ctx.Err()
}

// setup registers the anchors and senders, starts the rooms and fetches their tokens.
func (r *run) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SetupTimeout)
	defer cancel()
	r.rooms = make([]benchRoom, r.cfg.Rooms)
	r.sendersList = make([]*sender, r.senders)
	users := r.cfg.Rooms
	if r.cfg.Queue == "" {
		users += r.senders
	}
	jobs := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(users, 8) {
		wg.Go(func() {
			for i := range jobs {
				if err := r.setupOne(ctx, i); err != nil {
					select {
					case errc <- err:
					default:
					}
					cancel()
				}
			}
		})
	}
	for i := range users {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("set-up: %w%s", err, hint(err))
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	for i := range r.sendersList {
		if r.sendersList[i] == nil {
			r.sendersList[i] = &sender{id: i, room: i % r.cfg.Rooms}
		}
	}
	return nil
}

// setupOne prepares room i (i < rooms) or sender i-rooms.
func (r *run) setupOne(ctx context.Context, i int) error {
	if i >= r.cfg.Rooms {
		id := i - r.cfg.Rooms
		s, err := r.api.register(ctx, r.tag+"s"+strconv.Itoa(id))
		if err != nil {
			return err
		}
		r.sendersList[id] = &sender{id: id, room: id % r.cfg.Rooms, token: s.Token}
		return nil
	}
	anchor, err := r.api.register(ctx, r.tag+"a"+strconv.Itoa(i))
	if err != nil {
		return err
	}
	id, err := r.api.liveRoom(ctx, anchor, "bench "+r.tag+" #"+strconv.Itoa(i))
	if err != nil {
		return err
	}
	info, err := r.api.danmuInfo(ctx, id)
	if err != nil {
		return err
	}
	r.rooms[i] = benchRoom{id: id, token: info.Token}
	if i == 0 {
		r.tcpAddr = r.cfg.TCPAddr
		if r.tcpAddr == "" {
			if len(info.HostList) == 0 || info.HostList[0].Port == 0 {
				return errors.New("danmu-info announces no raw TCP port: pass -tcp_addr or use -ws")
			}
			u, _ := url.Parse(r.wsURL)
			r.tcpAddr = net.JoinHostPort(u.Hostname(), strconv.Itoa(info.HostList[0].Port))
		}
	}
	return nil
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
