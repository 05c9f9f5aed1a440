package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ReadStorm is one configured `zhibo bench hot read` run.
type ReadStorm struct {
	cfg  ReadStormConfig
	deps Deps
}

// NewReadStorm checks cfg; it contacts nothing.
func NewReadStorm(cfg ReadStormConfig, deps Deps) (*ReadStorm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &ReadStorm{cfg: cfg, deps: deps}, nil
}

// readClass is the reads of one kind (the hot room, or the background): counters and latency.
type readClass struct {
	reads atomic.Int64
	hist  *Hist
}

// Run creates the rooms, reads them for the configured duration, probes the hot room and
// returns the report. Every phase is bounded; ctx ends the run early.
func (s *ReadStorm) Run(ctx context.Context) (*ReadStormReport, error) {
	cfg := s.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout+cfg.Duration+time.Minute)
	defer cancel()
	rep := &ReadStormReport{Config: cfg, Started: time.Now().UTC()}
	api, tag, err := newAPI(cfg.URL, cfg.Concurrency)
	if err != nil {
		return nil, err
	}

	// One anchor per room: a user owns at most one room.
	setupStart := time.Now()
	ids := make([]int64, cfg.Rooms)
	sctx, scancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	err = parallel(sctx, cfg.Rooms, 8, func(ctx context.Context, i int) error {
		anchor, err := api.register(ctx, tag+"a"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		ids[i], err = api.createRoom(ctx, anchor, "bench "+tag+" #"+strconv.Itoa(i))
		return err
	})
	scancel()
	if err != nil {
		return nil, err
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	rep.HotRoom = ids[0]
	s.deps.Logger.Info("rooms ready", "rooms", cfg.Rooms, "hot_room", ids[0], "seconds", rep.SetupSeconds)
	read := api.getRoom
	if cfg.Target == TargetEnter {
		read = api.getEnter
	}
	if cfg.AdminToken != "" {
		if err := s.pin(ctx, api, ids[0]); err != nil {
			return nil, err
		}
		rep.Pinned = true
	}

	before, err := scrapeMetrics(ctx, api.hc, api.base)
	if err != nil {
		return nil, err
	}
	shards := 4 * runtime.GOMAXPROCS(0)
	hot := &readClass{hist: NewHist(shards)}
	bg := &readClass{hist: NewHist(shards)}
	var errs atomic.Int64
	var firstErr atomic.Value

	var lim *rate.Limiter
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/50)))
	}
	cpu := startCPU(cfg.PID)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	pctx, pstop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { progress(pctx, s.deps, s.progressLine(start, hot, bg, &errs)) })
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			zipf := rand.NewZipf(rng, cfg.ZipfS, 1, uint64(cfg.Rooms-2))
			shard := w % shards
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if lim != nil {
					wctx, wcancel := context.WithDeadline(ctx, deadline)
					err := lim.Wait(wctx)
					wcancel()
					if err != nil {
						return
					}
				}
				class, id := hot, ids[0]
				if rng.Float64() >= cfg.HotShare {
					class, id = bg, ids[1+zipf.Uint64()]
				}
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				t0 := time.Now()
				err := read(rctx, id)
				d := time.Since(t0)
				rcancel()
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(fmt.Sprintf("room %d: %s%s", id, err, hint(err)))
					}
					continue
				}
				class.reads.Add(1)
				class.hist.RecordN(shard, d, 1)
			}
		})
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.CPU.Generator, rep.CPU.Server = cpu.stop()
	pstop()
	pwg.Wait()

	after, err := scrapeMetrics(context.WithoutCancel(ctx), api.hc, api.base)
	if err != nil {
		return nil, err
	}
	rep.Errors = errs.Load()
	if v, ok := firstErr.Load().(string); ok {
		rep.FirstError = v
	}
	rep.fill(hot, bg, before, after)
	if cfg.Probe > 0 {
		if err := s.probe(context.WithoutCancel(ctx), read, api, ids[0], after, rep); err != nil {
			return rep, err
		}
	}
	if rep.Reads == 0 {
		return rep, errors.New("no read succeeded: " + rep.FirstError)
	}
	return rep, nil
}

// probe reads the hot room cfg.Probe times one after another with nothing else running, so
// the change of the cache counters is this room's alone.
func (s *ReadStorm) probe(ctx context.Context, read func(context.Context, int64) error, api *apiClient, id int64, before Metrics, rep *ReadStormReport) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for range s.cfg.Probe {
		if err := read(ctx, id); err != nil {
			return fmt.Errorf("probe room %d: %w", id, err)
		}
		rep.Probe.Reads++
	}
	after, err := scrapeMetrics(ctx, api.hc, api.base)
	if err != nil {
		return err
	}
	c := cacheCounts(before, after)
	rep.Probe.Memory, rep.Probe.Store = int64(c.memory), int64(c.store)
	if s.cfg.Target == TargetEnter {
		rep.Probe.Downstream = downstreamReads(before, after)
	}
	return nil
}

// pin pins the hot room hot for the whole run and, when the server runs a BFF, waits until
// it holds the room's page in memory (zhibo_bff_hot_rooms), so the storm measures the
// pre-warmed state.
func (s *ReadStorm) pin(ctx context.Context, api *apiClient, id int64) error {
	if err := api.pinRoom(ctx, s.cfg.AdminToken, id, s.cfg.Duration+time.Minute); err != nil {
		return fmt.Errorf("pin room %d hot: %w", id, err)
	}
	if s.cfg.Target != TargetEnter {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		m, err := scrapeMetrics(wctx, api.hc, api.base)
		if err != nil {
			return err
		}
		if n, ok := m.Sum("zhibo_bff_hot_rooms"); !ok || n >= 1 {
			return nil // no BFF here to wait for, or the page is loaded
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("room %d pinned, but the BFF did not load its page within 10s", id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// progressLine is the progress text: reads/s overall and on the hot room, p99 of each class.
func (s *ReadStorm) progressLine(start time.Time, hot, bg *readClass, errs *atomic.Int64) func() string {
	var prevN int64
	prevT := start
	var prevHot, prevBg *Snapshot = &Snapshot{}, &Snapshot{}
	return func() string {
		now := time.Now()
		hs, bs := hot.hist.Snapshot(), bg.hist.Snapshot()
		n := hot.reads.Load() + bg.reads.Load()
		dt := max(now.Sub(prevT).Seconds(), 1e-3)
		line := fmt.Sprintf("read    %s reads/s (hot %s/s)  p99 hot %.1fms  background %.1fms  errors %d  %s / %s",
			human(float64(n-prevN)/dt), human(float64(hs.Sub(prevHot).Total)/dt), ms(hs.Sub(prevHot).Quantile(0.99)),
			ms(bs.Sub(prevBg).Quantile(0.99)), errs.Load(), now.Sub(start).Round(time.Second), s.cfg.Duration)
		prevN, prevT, prevHot, prevBg = n, now, hs, bs
		return line
	}
}
