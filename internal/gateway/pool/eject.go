package pool

import (
	"time"
)

// maxEjectFactor caps the ejection time at this many times Eject.For.
const maxEjectFactor = 10

// observe counts one attempt's outcome on u for outlier ejection: Eject.Failures consecutive
// failures eject u, unless that would eject more than Eject.MaxPercent of the group (then the
// next failure tries again); a success resets the count, and the ejection count too once u is
// back.
func (g *Group) observe(u *upstream, failed bool) {
	e := g.cfg.Eject
	if e.Failures == EjectOff {
		return
	}
	if !failed {
		if u.failures.Load() != 0 {
			u.failures.Store(0)
		}
		if u.until.Load() != 0 {
			g.mu.Lock()
			if now := time.Now().UnixNano(); !u.ejected(now) {
				u.ejections = 0
				u.until.Store(0)
			}
			g.mu.Unlock()
		}
		return
	}
	if u.failures.Add(1) < int64(e.Failures) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	nowNs := now.UnixNano()
	if u.ejected(nowNs) || u.failures.Load() < int64(e.Failures) {
		return // ejected by a concurrent failure, or reset by a success
	}
	ejected := 0
	for _, o := range g.addrs {
		if o.ejected(nowNs) {
			ejected++
		}
	}
	if (ejected+1)*100 > e.MaxPercent*len(g.addrs) {
		return
	}
	u.ejections++
	d := time.Duration(e.For) << min(u.ejections-1, 4) // 2^4 > maxEjectFactor
	d = min(d, maxEjectFactor*time.Duration(e.For))
	until := now.Add(d).UnixNano()
	u.until.Store(until)
	n := u.failures.Swap(0)
	u.m.ejections.Inc()
	u.m.up.Set(0)
	if u.timer != nil {
		u.timer.Stop()
	}
	u.timer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if u.until.Load() != until {
			return // a later ejection owns the gauge
		}
		u.setUp(until)
		g.log.Info("upstream ejection over", "group", g.cfg.Name, "addr", u.addr)
	})
	g.log.Warn("upstream ejected", "group", g.cfg.Name, "addr", u.addr, "failures", n, "for", d,
		"ejections", u.ejections)
}
