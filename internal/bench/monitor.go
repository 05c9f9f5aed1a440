package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Point is one second of the run, for the charts.
type Point struct {
	T          float64 `json:"t"` // seconds since the run started
	Phase      string  `json:"phase"`
	Conns      int64   `json:"conns"`
	SentPerSec float64 `json:"sent_per_sec"`
	Delivered  float64 `json:"delivered_per_sec"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
}

// monitor draws the progress twice a second and records one Point per second.
type monitor struct {
	r     *run
	deps  Deps
	rep   *Report
	start time.Time
	prev  *Snapshot
	sent  int64
	last  time.Time
}

func newMonitor(r *run, deps Deps, rep *Report) *monitor {
	return &monitor{r: r, deps: deps, rep: rep, start: time.Now(), prev: &Snapshot{}, last: time.Now()}
}

func (m *monitor) loop(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			m.point()
			if m.deps.Terminal && m.deps.Progress != nil {
				fmt.Fprintln(m.deps.Progress)
			}
			return
		case <-t.C:
		}
		if tick%2 == 0 {
			m.point()
		}
		if m.deps.Progress == nil {
			continue
		}
		if m.deps.Terminal {
			fmt.Fprintf(m.deps.Progress, "\r%s\x1b[K", m.line(true))
		} else if tick%10 == 0 { // plain lines every 5 s
			fmt.Fprintln(m.deps.Progress, m.line(false))
		}
	}
}

// point appends the second just ended to the report's series.
func (m *monitor) point() {
	now := time.Now()
	dt := now.Sub(m.last).Seconds()
	if dt < 0.2 {
		return
	}
	snap := m.r.hist.Snapshot()
	d := snap.Sub(m.prev)
	sent := m.r.sent.Load()
	m.rep.Series = append(m.rep.Series, Point{
		T:          now.Sub(m.start).Seconds(),
		Phase:      m.r.phase.Load().(string),
		Conns:      m.r.up.Load() - m.r.dropped.Load(),
		SentPerSec: float64(sent-m.sent) / dt,
		Delivered:  float64(d.Total) / dt,
		P50MS:      ms(d.Quantile(0.5)),
		P99MS:      ms(d.Quantile(0.99)),
		MaxMS:      ms(d.Max()),
	})
	m.prev, m.sent, m.last = snap, sent, now
}

// line is the progress text: phase, connections, rates, p99 and time, with a bar over the
// phase's expected length.
func (m *monitor) line(bar bool) string {
	r := m.r
	phase := r.phase.Load().(string)
	var p Point
	if n := len(m.rep.Series); n > 0 {
		p = m.rep.Series[n-1]
	}
	frac := 0.0
	switch phase {
	case "tokens":
		frac = float64(r.tokensGot.Load()) / float64(max(1, r.tokensWant.Load()))
	case "connect":
		frac = float64(r.up.Load()+r.dialFailed.Load()) / float64(r.cfg.Conns)
	case "send", "idle":
		frac = min(1, time.Since(m.start).Seconds()/max(1, m.elapsedAtSend()+r.cfg.Duration.Seconds()))
	case "drain":
		frac = 1
	}
	var b strings.Builder
	if bar {
		const width = 24
		n := int(frac * width)
		b.WriteString("[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] ")
	}
	if phase == "tokens" {
		fmt.Fprintf(&b, "%-7s guest tokens %d/%d  %s", phase, r.tokensGot.Load(), r.tokensWant.Load(),
			time.Since(m.start).Round(time.Second))
		return b.String()
	}
	fmt.Fprintf(&b, "%-7s conns %d/%d", phase, r.up.Load()-r.dropped.Load(), r.cfg.Conns)
	if f := r.dialFailed.Load(); f > 0 {
		fmt.Fprintf(&b, " (%d failed)", f)
	}
	fmt.Fprintf(&b, "  sent %.0f/s  delivered %s/s  p99 %.1fms  %s / %s", p.SentPerSec, human(p.Delivered),
		p.P99MS, time.Since(m.start).Round(time.Second), r.cfg.Duration)
	if e := r.sendErrors.Load(); e > 0 {
		fmt.Fprintf(&b, "  send errors %d", e)
	}
	return b.String()
}

// elapsedAtSend is when the send phase started, in seconds since the run started.
func (m *monitor) elapsedAtSend() float64 {
	for _, p := range m.rep.Series {
		if p.Phase == "send" {
			return p.T - 1
		}
	}
	return time.Since(m.start).Seconds()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// human prints a rate with k / M suffixes.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
