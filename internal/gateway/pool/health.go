package pool

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// probeDrain is how much of a probe's answer is read so its connection can be reused.
const probeDrain = 4 << 10

// check probes u every Health.Interval (±10%) until ctx ends, marking it down after
// Health.Fails consecutive failures and up after Health.Passes consecutive passes. The first
// probe comes at a random point of the first interval, so many groups started together do not
// probe together.
func (g *Group) check(ctx context.Context, u *upstream) {
	h := g.cfg.Health
	interval := time.Duration(h.Interval)
	timer := time.NewTimer(rand.N(interval) + 1)
	defer timer.Stop()
	fails, passes := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := g.probe(ctx, u)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fails, passes = fails+1, 0
			if fails == h.Fails && u.healthy.Load() {
				g.log.Warn("upstream down", "group", g.cfg.Name, "addr", u.addr, "err", err)
				g.setHealthy(u, false)
			}
		} else {
			fails, passes = 0, passes+1
			if passes == h.Passes && !u.healthy.Load() {
				g.log.Info("upstream up", "group", g.cfg.Name, "addr", u.addr)
				g.setHealthy(u, true)
			}
		}
		timer.Reset(jitter(interval))
	}
}

// jitter returns d ± 10%.
func jitter(d time.Duration) time.Duration {
	spread := d / 5
	if spread <= 0 {
		return d
	}
	return d - d/10 + rand.N(spread+1)
}

func (g *Group) setHealthy(u *upstream, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u.healthy.Store(ok)
	u.setUp(time.Now().UnixNano())
}

// probe sends one GET of Health.Path to u: a 2xx or 3xx answer within Health.Timeout passes.
// An h2c address (a gRPC server) gets the standard gRPC health check instead.
func (g *Group) probe(ctx context.Context, u *upstream) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(g.cfg.Health.Timeout))
	defer cancel()
	if u.h2c {
		return g.probeGRPC(ctx, u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.scheme+"://"+u.host+g.cfg.Health.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "zhibo-gateway-health")
	resp, err := g.transport(u).RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, probeDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health check %s answered %s", g.cfg.Health.Path, resp.Status)
	}
	return nil
}
