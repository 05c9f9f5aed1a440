package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrScoreMismatch is returned when the anchor's final score is not the sum of the
// acknowledged orders: an order was lost or counted twice.
var ErrScoreMismatch = errors.New("bench: anchor score differs from the sum of acknowledged orders")

// GiftStorm is one configured `zhibo bench hot gifts` run.
type GiftStorm struct {
	cfg  GiftStormConfig
	deps Deps
}

// NewGiftStorm checks cfg; it contacts nothing.
func NewGiftStorm(cfg GiftStormConfig, deps Deps) (*GiftStorm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &GiftStorm{cfg: cfg, deps: deps}, nil
}

// giftRun is the shared state of the senders.
type giftRun struct {
	cfg      GiftStormConfig
	api      *apiClient
	tag      string
	roomID   int64
	hist     *Hist
	acked    atomic.Int64 // orders the platform acknowledged
	sum      atomic.Int64 // their totals
	errs     atomic.Int64 // orders refused
	unknown  atomic.Int64 // orders whose outcome stayed unknown after retries
	retries  atomic.Int64
	firstErr atomic.Value // string
}

// Run registers the anchor and the senders, sends gifts for the configured duration, waits
// for the anchor's score to settle and returns the report. It returns ErrScoreMismatch (with
// the report) when the score is not exactly the acknowledged sum.
func (g *GiftStorm) Run(ctx context.Context) (*GiftStormReport, error) {
	cfg := g.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout+cfg.Duration+cfg.Settle+time.Minute)
	defer cancel()
	rep := &GiftStormReport{Config: cfg, Started: time.Now().UTC()}
	api, tag, err := newAPI(cfg.URL, cfg.Senders)
	if err != nil {
		return nil, err
	}
	r := &giftRun{cfg: cfg, api: api, tag: tag, hist: NewHist(4 * runtime.GOMAXPROCS(0))}

	setupStart := time.Now()
	tokens := make([]string, cfg.Senders)
	sctx, scancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	err = parallel(sctx, cfg.Senders+1, 8, func(ctx context.Context, i int) error {
		if i == cfg.Senders {
			anchor, err := api.register(ctx, tag+"a0")
			if err != nil {
				return err
			}
			r.roomID, err = api.liveRoom(ctx, anchor, "bench "+tag+" gift storm")
			return err
		}
		s, err := api.register(ctx, tag+"s"+strconv.Itoa(i))
		tokens[i] = s.Token
		return err
	})
	scancel()
	if err != nil {
		return nil, err
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	rep.RoomID = r.roomID
	if rep.ScoreBefore, err = api.anchorScore(ctx, r.roomID); err != nil {
		return nil, err
	}
	m0, err := scrapeMetrics(ctx, api.hc, api.base)
	if err != nil {
		return nil, err
	}

	cpu := startCPU(cfg.PID)
	start := time.Now()
	pctx, pstop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { progress(pctx, g.deps, r.progressLine(start)) })
	sendCtx, sendCancel := context.WithDeadline(ctx, start.Add(cfg.Duration))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() { r.sender(sendCtx, start, i, tok) })
	}
	wg.Wait()
	sendCancel()
	rep.SendSeconds = time.Since(start).Seconds()
	rep.CPU.Generator, rep.CPU.Server = cpu.stop()
	m1, err := scrapeMetrics(context.WithoutCancel(ctx), api.hc, api.base)
	if err != nil {
		pstop()
		return nil, err
	}

	// Wait for the aggregation to write every acknowledged order into the anchor's score.
	settleStart := time.Now()
	want := rep.ScoreBefore + r.sum.Load()
	var score int64
	for {
		score, err = api.anchorScore(context.WithoutCancel(ctx), r.roomID)
		if err != nil || score >= want || time.Since(settleStart) > cfg.Settle || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep.SettleSeconds = time.Since(settleStart).Seconds()
	pstop()
	pwg.Wait()
	if err != nil {
		return nil, err
	}
	m2, err := scrapeMetrics(context.WithoutCancel(ctx), api.hc, api.base)
	if err != nil {
		return nil, err
	}
	rep.ScoreAfter = score
	r.fill(rep, m0, m1, m2)
	if !rep.ScoreOK {
		return rep, fmt.Errorf("%w: score went from %d to %d (+%d), acknowledged orders total %d (%d orders of unknown outcome)",
			ErrScoreMismatch, rep.ScoreBefore, rep.ScoreAfter, rep.ScoreAfter-rep.ScoreBefore, rep.AckedTotal, rep.Unknown)
	}
	if rep.Orders == 0 {
		return rep, errors.New("no order was acknowledged: " + rep.FirstError)
	}
	return rep, nil
}

// sender sends orders until ctx ends: with a rate, sender i of n on a fixed grid every
// n/rate seconds (a missed tick is skipped, not made up); without, back to back.
func (r *giftRun) sender(ctx context.Context, start time.Time, i int, tok string) {
	n := r.cfg.Senders
	var every, offset time.Duration
	if r.cfg.Rate > 0 {
		every = time.Duration(float64(n) / r.cfg.Rate * float64(time.Second))
		offset = time.Duration(int64(every) * int64(i) / int64(n))
	}
	shard := i % r.hist.Shards()
	for seq, tick := 1, int64(0); ; seq++ {
		if every > 0 {
			next := start.Add(offset + time.Duration(tick)*every)
			for time.Until(next) < 0 && tick > 0 {
				tick++
				next = start.Add(offset + time.Duration(tick)*every)
			}
			tick++
			t := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		key := r.tag + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(seq)
		t0 := time.Now()
		o, err := r.order(context.WithoutCancel(ctx), tok, key)
		if err != nil {
			if r.errs.Add(1) == 1 {
				r.firstErr.Store(fmt.Sprintf("%s%s", err, giftHint(err)))
			}
			continue
		}
		r.hist.RecordN(shard, time.Since(t0), 1)
		r.acked.Add(1)
		r.sum.Add(o.Total)
	}
}

// order sends one gift, retrying with the same idempotency key while the outcome is unknown
// (no answer), so the order is placed at most once and its result is always learned.
func (r *giftRun) order(ctx context.Context, tok, key string) (giftOrder, error) {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			r.retries.Add(1)
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var o giftOrder
		o, err = r.api.sendGift(octx, tok, r.roomID, r.cfg.GiftID, r.cfg.Num, key)
		cancel()
		var ae *apiError
		if err == nil {
			return o, nil
		}
		if errors.As(err, &ae) && ae.Status < 500 {
			return o, err // refused: the order was not placed
		}
	}
	r.unknown.Add(1)
	return giftOrder{}, fmt.Errorf("outcome unknown after 5 attempts: %w", err)
}

// codeInsufficient is the envelope code of a send refused for lack of coins.
const codeInsufficient = -30006

// giftHint adds what to do about a refused order.
func giftHint(err error) string {
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == codeInsufficient {
		return " (wallet empty: start the server with a large -gift.initial_balance)"
	}
	return hint(err)
}

func (r *giftRun) progressLine(start time.Time) func() string {
	var prevN int64
	prevT := start
	return func() string {
		now := time.Now()
		n := r.acked.Load()
		dt := max(now.Sub(prevT).Seconds(), 1e-3)
		line := fmt.Sprintf("gifts   %s orders/s  acknowledged %d  errors %d  p99 %.1fms  %s / %s",
			human(float64(n-prevN)/dt), n, r.errs.Load(), ms(r.hist.Snapshot().Quantile(0.99)),
			now.Sub(start).Round(time.Second), r.cfg.Duration)
		if now.Sub(start) > r.cfg.Duration {
			line = fmt.Sprintf("settle  waiting for the anchor score to reach %d  %s", r.sum.Load(), now.Sub(start).Round(time.Second))
		}
		prevN, prevT = n, now
		return line
	}
}
