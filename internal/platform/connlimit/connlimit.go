// Package connlimit caps the connections a process holds open: per client IP on each listener,
// and in total across every listener of the process, so that neither one address nor a crowd of
// addresses can take the descriptors the process needs for its stores, queue and files. A
// listener wrapped by Listen refuses an over-limit connection right after accept (closes it,
// counts it, logs it at a bounded rate); an admitted connection gives its slots back when it is
// closed, exactly once, whoever closes it (the HTTP server, a WebSocket handler after hijack).
package connlimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Refusal reasons, the reason label of zhibo_conn_refused_total.
const (
	ReasonPerIP = "per_ip" // the client's address holds its listener's per-IP cap
	ReasonTotal = "total"  // the process holds its total cap
)

// logEvery bounds how often a Limiter logs refusals: one line per period with the count.
const logEvery = 10 * time.Second

// Total is the process-wide connection budget, shared by every listener of the process.
type Total struct {
	max int64 // 0 = no cap
	n   atomic.Int64
}

// NewTotal is a budget of max connections; 0 means no cap.
func NewTotal(max int) *Total { return &Total{max: int64(max)} }

// Max is the cap (0 = none, also for a nil Total).
func (t *Total) Max() int {
	if t == nil {
		return 0
	}
	return int(t.max)
}

// Open is how many connections hold a slot now (counted only while there is a cap).
func (t *Total) Open() int {
	if t == nil {
		return 0
	}
	return int(t.n.Load())
}

func (t *Total) acquire() bool {
	if t == nil || t.max <= 0 {
		return true
	}
	if t.n.Add(1) > t.max {
		t.n.Add(-1)
		return false
	}
	return true
}

func (t *Total) release() {
	if t != nil && t.max > 0 {
		t.n.Add(-1)
	}
}

// Options describe one Limiter.
type Options struct {
	// Listener names the listener in metrics and logs ("gateway", "comet").
	Listener string
	// PerIP caps connections from one client IP (0 = no per-IP cap).
	PerIP int
	// Total is the process budget the listener shares (nil = no total cap).
	Total *Total
	// Logger gets refusal lines, at most one per 10 s per Limiter (nil discards).
	Logger *slog.Logger
	// Registry gets the metrics; Limiters of one process share the vectors (nil keeps them private).
	Registry prometheus.Registerer
	// OnRefuse, when set, is also told every refusal's reason (a component's own drop counter).
	OnRefuse func(reason string)
}

// Limiter counts one listener's connections per client IP, and the process total. Its per-IP
// table is sharded: a connect or close touches one shard's lock, never a global one.
type Limiter struct {
	opt    Options
	log    *slog.Logger
	seed   maphash.Seed
	shards [64]shard

	open    prometheus.Gauge
	refused [2]prometheus.Counter // ReasonPerIP, ReasonTotal

	lastLog  atomic.Int64 // unix nanoseconds of the last refusal line
	unlogged atomic.Int64 // refusals since then
}

type shard struct {
	mu sync.Mutex
	n  map[string]int
}

// New builds a Limiter and registers (or reuses) its metrics.
func New(opt Options) (*Limiter, error) {
	if opt.PerIP < 0 {
		return nil, fmt.Errorf("connlimit: %s: negative per-IP cap %d", opt.Listener, opt.PerIP)
	}
	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	open := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zhibo_conn_open", Help: "Connections open on a listener (each holds a slot of the process total).",
	}, []string{"listener"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_conn_refused_total", Help: "Connections refused at accept by listener and reason (per_ip, total).",
	}, []string{"listener", "reason"})
	if err := register(reg, &open); err != nil {
		return nil, err
	}
	if err := register(reg, &refused); err != nil {
		return nil, err
	}
	l := &Limiter{opt: opt, log: opt.Logger, seed: maphash.MakeSeed(), open: open.WithLabelValues(opt.Listener)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.refused[0] = refused.WithLabelValues(opt.Listener, ReasonPerIP)
	l.refused[1] = refused.WithLabelValues(opt.Listener, ReasonTotal)
	for i := range l.shards {
		l.shards[i].n = map[string]int{}
	}
	return l, nil
}

// register registers c on reg, or points c at the collector already registered there.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if prev, ok := are.ExistingCollector.(C); ok {
			*c = prev
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("connlimit: register metrics: %w", err)
	}
	return nil
}

// Host is the IP of a "host:port" address (the whole string when it has no port).
func Host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (l *Limiter) shard(ip string) *shard {
	return &l.shards[maphash.String(l.seed, ip)%uint64(len(l.shards))]
}

// AcquireIP counts a connection from ip against the per-IP cap only (for a connection whose
// process slot another listener already holds, such as a WebSocket upgraded from the gateway's
// HTTP listener). false means refused, counted and logged; the caller closes the connection.
func (l *Limiter) AcquireIP(ip string) bool {
	if !l.acquireIP(ip) {
		l.refuse(ReasonPerIP, ip)
		return false
	}
	return true
}

// ReleaseIP gives back a slot taken by AcquireIP.
func (l *Limiter) ReleaseIP(ip string) { l.releaseIP(ip) }

func (l *Limiter) acquireIP(ip string) bool {
	if l.opt.PerIP <= 0 {
		return true
	}
	sh := l.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[ip] >= l.opt.PerIP {
		return false
	}
	sh.n[ip]++
	return true
}

func (l *Limiter) releaseIP(ip string) {
	if l.opt.PerIP <= 0 {
		return
	}
	sh := l.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[ip] <= 1 {
		delete(sh.n, ip)
	} else {
		sh.n[ip]--
	}
}

// admit takes a per-IP and a process slot for a new connection, or refuses it.
func (l *Limiter) admit(ip string) bool {
	if !l.acquireIP(ip) {
		l.refuse(ReasonPerIP, ip)
		return false
	}
	if !l.opt.Total.acquire() {
		l.releaseIP(ip)
		l.refuse(ReasonTotal, ip)
		return false
	}
	l.open.Inc()
	return true
}

func (l *Limiter) release(ip string) {
	l.open.Dec()
	l.opt.Total.release()
	l.releaseIP(ip)
}

// refuse counts a refusal and logs it, at most one line per logEvery with the count since the
// previous line, so a flood cannot flood the log too.
func (l *Limiter) refuse(reason, ip string) {
	if reason == ReasonPerIP {
		l.refused[0].Inc()
	} else {
		l.refused[1].Inc()
	}
	if l.opt.OnRefuse != nil {
		l.opt.OnRefuse(reason)
	}
	n := l.unlogged.Add(1)
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(logEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	n = l.unlogged.Swap(0)
	l.log.Warn("connections refused", "listener", l.opt.Listener, "reason", reason, "ip", ip,
		"refused", n, "per_ip_cap", l.opt.PerIP, "total_cap", l.opt.Total.Max())
}
