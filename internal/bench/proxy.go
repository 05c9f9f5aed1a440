package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// ProxyConfig is one `zhibo bench proxy` run.
type ProxyConfig struct {
	// Conns is the keep-alive connections of every phase, the same to each target.
	Conns int `json:"conns"`
	// Duration is the measured time of each phase (after a warm-up of a tenth of it, ≤ 1 s).
	Duration time.Duration `json:"duration"`
	// Rounds is how many times the closed-loop phases (direct, nginx, gateway) alternate.
	Rounds int `json:"rounds"`
	// LatencyLoad is the open-loop rate of the latency phases as a share of nginx's best
	// closed-loop requests/s (of the gateway's when nginx is absent).
	LatencyLoad float64 `json:"latency_load"`
	// Nginx is the nginx binary; empty or missing = the run goes without nginx.
	Nginx string `json:"nginx"`
	// ReloadEvery is how often the reload phase rewrites the gateway's route table while the
	// gateway is under closed-loop load (0 = no reload phase).
	ReloadEvery time.Duration `json:"reload_every"`
	// Full also measures the gateway without its event loops (gateway.loop=false: the lane, a
	// goroutine per connection), in the same run: the comparison of the two serving paths.
	Full bool   `json:"full"`
	JSON string `json:"-"`
	HTML string `json:"-"`
}

// DefaultProxyConfig is the command's defaults.
func DefaultProxyConfig() ProxyConfig {
	return ProxyConfig{Conns: 64, Duration: 10 * time.Second, Rounds: 2, LatencyLoad: 0.5, Nginx: "/usr/sbin/nginx",
		ReloadEvery: 500 * time.Millisecond, Full: true}
}

// RegisterFlags binds the config to flags under prefix.
func (c *ProxyConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	d := DefaultProxyConfig()
	fs.IntVar(&c.Conns, prefix+"conns", d.Conns, "keep-alive connections of every phase (1..1000).")
	fs.DurationVar(&c.Duration, prefix+"duration", d.Duration, "measured time of each phase (at most 1m).")
	fs.IntVar(&c.Rounds, prefix+"rounds", d.Rounds, "times the closed-loop phases direct, nginx, gateway alternate (1..10).")
	fs.Float64Var(&c.LatencyLoad, prefix+"latency_load", d.LatencyLoad, "open-loop rate of the latency phases, as a share of nginx's best req/s (0 = no latency phases).")
	fs.StringVar(&c.Nginx, prefix+"nginx", d.Nginx, "nginx binary (empty or missing = run without nginx).")
	fs.DurationVar(&c.ReloadEvery, prefix+"reload_every", d.ReloadEvery, "reload phase: rewrite the gateway's route table this often while it is under full load, every failed request counted (0 = no reload phase; at least 50ms).")
	fs.BoolVar(&c.Full, prefix+"full", d.Full, "also measure a second gateway with gateway.loop=false (the fast lane on a goroutine per connection, without the event loops), in the same rounds.")
	fs.StringVar(&c.JSON, prefix+"json", "", "write the JSON report to this file (empty = none).")
	fs.StringVar(&c.HTML, prefix+"html", "", "write the HTML report to this file (empty = none).")
}

// Validate checks the bounds that keep a run short.
func (c *ProxyConfig) Validate() error {
	switch {
	case c.Conns < 1 || c.Conns > 1000:
		return errors.New("-conns must be in 1..1000")
	case c.Duration <= 0 || c.Duration > time.Minute:
		return errors.New("-duration must be in (0, 1m]")
	case c.Rounds < 1 || c.Rounds > 10:
		return errors.New("-rounds must be in 1..10")
	case c.LatencyLoad < 0 || c.LatencyLoad > 1:
		return errors.New("-latency_load must be in 0..1")
	case c.ReloadEvery != 0 && c.ReloadEvery < 50*time.Millisecond:
		return errors.New("-reload_every must be 0 or at least 50ms")
	}
	return nil
}

// The bench's route: the same path through every target.
const (
	proxyPath       = "/bench/ping"
	proxyComponents = "gateway,account"
)

// Targets of a proxy run.
const (
	TargetDirect  = "direct"
	TargetNginx   = "nginx"
	TargetGateway = "gateway"
	// TargetGatewayFull is the same gateway with gateway.loop=false: the fast lane on a
	// goroutine per connection, the path before the event loops.
	TargetGatewayFull = "gateway-lane"
)

// proxyGatewayFlags configure zhibo's gateway for the bench (zhibo serve's flags): on a free
// loopback port, no per-IP limits, a per-user limit on the bench route far above what the run
// sends (it is paid on every request and never refuses), and the config file holding the
// route table (proxyTable), which the reload phase rewrites.
func proxyGatewayFlags(dataDir, configFile string) []string {
	return []string{
		"-config", configFile,
		"-data_dir", dataDir,
		"-log.level", "warn",
		"-gateway.http_addr", "127.0.0.1:0",
		"-gateway.rate_per_ip", "0",
		"-gateway.max_conns_per_ip", "0",
		"-account.bcrypt_cost", "4",
		"-gateway.limits", `[{"name":"bench-user","match":"GET /bench/","scope":"user","rate":1000000,"burst":1000000}]`,
	}
}

// proxyTable is the gateway's config file: the group of the upstream and the bench route,
// GET /bench/ forwarded to it for users with a valid token (auth user). version changes the
// route's timeout only, so each version is a new table that serves the same.
func proxyTable(upstream string, version int) []byte {
	return fmt.Appendf(nil, `gateway:
  groups:
    - name: bench
      addrs: ["http://%s"]
  routes:
    - name: bench
      match: "GET /bench/"
      upstream: bench
      auth: user
      timeout: %ds
`, upstream, 5+version%2)
}

// Proxy is one configured `zhibo bench proxy` run.
type Proxy struct {
	cfg   ProxyConfig
	deps  Deps
	start ProxyStarters
}

// NewProxy checks cfg; it starts nothing. start says how the upstream and the gateway run.
func NewProxy(cfg ProxyConfig, deps Deps, start ProxyStarters) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if start.Upstream == nil || start.Gateway == nil {
		return nil, errors.New("bench proxy: no way to start the upstream and the gateway")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Proxy{cfg: cfg, deps: deps, start: start}, nil
}

// proxyTarget is one server the load goes to.
type proxyTarget struct {
	name string
	addr string
	pid  int    // its process (0 = not measured)
	req  []byte // what it is sent (nil = the run's request)
}

// Run starts the servers, checks the route, measures the phases and stops everything. A
// report with Errors > 0 is returned with a nil error: the caller decides.
func (p *Proxy) Run(ctx context.Context) (*ProxyReport, error) {
	cfg := p.cfg
	phases := cfg.Rounds*4 + 5
	perPhase := cfg.Duration + min(cfg.Duration/10, time.Second) + 2*time.Second
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(phases)*perPhase)
	defer cancel()
	rep := &ProxyReport{Config: cfg, Started: time.Now().UTC(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU()}
	dir, err := os.MkdirTemp("", "zhibo-bench-proxy")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			_ = stops[i]()
		}
	}()
	log := p.deps.Logger

	up, err := p.start.Upstream(ctx)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	stops = append(stops, up.Stop)
	gwDir, gwConfig := filepath.Join(dir, "gateway"), filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(gwConfig, proxyTable(up.Addr, 0), 0o600); err != nil {
		return nil, err
	}
	gw, err := p.start.Gateway(ctx, []string{"gateway", "account"}, proxyGatewayFlags(gwDir, gwConfig))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	stops = append(stops, gw.Stop)
	targets := []proxyTarget{{name: TargetDirect, addr: up.Addr, pid: up.PID}}
	if cfg.Nginx != "" {
		if v, verr := nginxVersion(cfg.Nginx); verr != nil {
			rep.NginxAbsent = verr.Error()
			log.Warn("nginx not found: running without it", "nginx", cfg.Nginx, "err", verr)
		} else {
			ndir := filepath.Join(dir, "nginx")
			if err := os.Mkdir(ndir, 0o755); err != nil {
				return nil, err
			}
			ng, err := startNginx(ctx, cfg.Nginx, ndir, up.Addr)
			if err != nil {
				return nil, err
			}
			stops = append(stops, ng.Stop)
			rep.NginxVersion = v
			targets = append(targets, proxyTarget{name: TargetNginx, addr: ng.Addr, pid: ng.PID})
		}
	} else {
		rep.NginxAbsent = "no -nginx given"
	}
	gwTarget := proxyTarget{name: TargetGateway, addr: gw.Addr, pid: gw.PID}
	targets = append(targets, gwTarget)
	var full *ProxyProc
	if cfg.Full {
		fullDir, fullConfig := filepath.Join(dir, "gateway-lane"), filepath.Join(dir, "gateway-lane.yaml")
		if err := os.WriteFile(fullConfig, proxyTable(up.Addr, 0), 0o600); err != nil {
			return nil, err
		}
		full, err = p.start.Gateway(ctx, []string{"gateway", "account"}, append(proxyGatewayFlags(fullDir, fullConfig), "-gateway.loop=false"))
		if err != nil {
			return nil, fmt.Errorf("gateway without the event loops: %w", err)
		}
		stops = append(stops, full.Stop)
	}
	log.Info("servers up", "upstream", up.Addr, "gateway", gw.Addr, "nginx", rep.NginxVersion)

	api, tag, err := newAPI("http://"+gw.Addr, 2)
	if err != nil {
		return nil, err
	}
	user, err := api.register(ctx, tag+"proxy")
	if err != nil {
		return nil, fmt.Errorf("register the bench user at the gateway: %w%s", err, hint(err))
	}
	req := proxyRequest(proxyPath, user.Token)
	if full != nil {
		fapi, ftag, err := newAPI("http://"+full.Addr, 2)
		if err != nil {
			return nil, err
		}
		fuser, err := fapi.register(ctx, ftag+"proxy")
		if err != nil {
			return nil, fmt.Errorf("register the bench user at the gateway without the event loops: %w%s", err, hint(err))
		}
		targets = append(targets, proxyTarget{name: TargetGatewayFull, addr: full.Addr, pid: full.PID,
			req: proxyRequest(proxyPath, fuser.Token)})
	}
	for _, t := range targets {
		if status, err := newRawConn(t.addr, t.request(req)).do(); err != nil || status != 200 {
			return nil, fmt.Errorf("GET %s through %s (%s): status %d, err %v; the gateway needs the route table (-gateway.routes)", proxyPath, t.name, t.addr, status, err)
		}
	}
	noToken := newRawConn(gw.Addr, proxyRequest(proxyPath, ""))
	rep.GatewayWithoutToken, err = noToken.do()
	noToken.close()
	if err != nil {
		return nil, fmt.Errorf("GET %s without a token through the gateway: %w", proxyPath, err)
	}
	if rep.GatewayWithoutToken != 401 {
		return nil, fmt.Errorf("the gateway answered HTTP %d to GET %s without a token: the route does not require a user", rep.GatewayWithoutToken, proxyPath)
	}

	for round := 1; round <= cfg.Rounds; round++ {
		for _, t := range targets {
			ph, err := p.phase(ctx, t, up.PID, t.request(req), round, 0)
			if err != nil {
				return rep, err
			}
			rep.Phases = append(rep.Phases, ph)
		}
	}
	rep.summarize()
	if cfg.ReloadEvery > 0 && rep.Errors == 0 {
		ph, reloads, err := p.reloadPhase(ctx, gwTarget, up, req, gwConfig)
		if err != nil {
			return rep, err
		}
		rep.Reload, rep.Reloads = &ph, reloads
		rep.summarize()
	}
	if cfg.LatencyLoad > 0 && rep.Errors == 0 {
		base := rep.Best[TargetNginx].RPS
		rep.LatencyBase = TargetNginx
		if base == 0 {
			base, rep.LatencyBase = rep.Best[TargetGateway].RPS, TargetGateway
		}
		rate := cfg.LatencyLoad * base
		for _, t := range targets {
			ph, err := p.phase(ctx, t, up.PID, t.request(req), 0, rate)
			if err != nil {
				return rep, err
			}
			rep.Latency = append(rep.Latency, ph)
		}
		rep.summarize()
	}
	return rep, nil
}

// request is what t is sent: its own request, or the run's.
func (t proxyTarget) request(req []byte) []byte {
	if t.req != nil {
		return t.req
	}
	return req
}

// reloadPhase loads the gateway in a closed loop while its route table is rewritten every
// ReloadEvery; it returns the phase and how many reloads the gateway applied meanwhile (its
// zhibo_config_reloads_total{result="applied"}), which must all pass with no failed request.
func (p *Proxy) reloadPhase(ctx context.Context, gw proxyTarget, up *ProxyProc, req []byte, configFile string) (ProxyPhase, float64, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + gw.addr
	before, err := scrapeMetrics(ctx, hc, base)
	if err != nil {
		return ProxyPhase{}, 0, fmt.Errorf("gateway metrics: %w", err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		tick := time.NewTicker(p.cfg.ReloadEvery)
		defer tick.Stop()
		for v := 1; ; v++ {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
			}
			if err := os.WriteFile(configFile, proxyTable(up.Addr, v), 0o600); err != nil {
				werr = err
				return
			}
		}
	})
	ph, err := p.phase(ctx, gw, up.PID, req, -1, 0)
	stop()
	wg.Wait()
	if err == nil {
		err = werr
	}
	if err != nil {
		return ph, 0, err
	}
	time.Sleep(600 * time.Millisecond) // the last write, applied within two polls of the file
	after, err := scrapeMetrics(ctx, hc, base)
	if err != nil {
		return ph, 0, fmt.Errorf("gateway metrics: %w", err)
	}
	return ph, Delta(before, after, "zhibo_config_reloads_total", `result="applied"`), nil
}

// phase loads target t for the configured duration: closed loop when rate is 0, else open
// loop at rate requests/s. round 0 marks a latency phase, -1 the reload phase.
func (p *Proxy) phase(ctx context.Context, t proxyTarget, upPID int, req []byte, round int, rate float64) (ProxyPhase, error) {
	cfg := p.cfg
	conns := make([]*rawConn, cfg.Conns)
	for i := range conns {
		conns[i] = newRawConn(t.addr, req)
		if err := conns[i].dial(); err != nil {
			closeAll(conns)
			return ProxyPhase{}, fmt.Errorf("%s: connect: %w", t.name, err)
		}
	}
	defer closeAll(conns)
	// Warm-up, not measured: fills the proxies' upstream pools and wakes every connection.
	warm := &loadResult{hist: NewHist(cfg.Conns)}
	runLoad(ctx, conns, time.Now().Add(min(cfg.Duration/10, time.Second)), rate, warm)

	lr := &loadResult{hist: NewHist(cfg.Conns)}
	mode := "closed loop"
	if rate > 0 {
		mode = fmt.Sprintf("open loop at %s/s", human(rate))
	}
	label := fmt.Sprintf("%-7s %s", t.name, mode)
	switch {
	case round > 0:
		label += fmt.Sprintf(", round %d/%d", round, cfg.Rounds)
	case round < 0:
		label += fmt.Sprintf(", route table rewritten every %s", cfg.ReloadEvery)
	}
	gen0, srv0, up0 := ownCPU(), treeCPU(t.pid), treeCPU(upPID)
	start := time.Now()
	pctx, pstop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { progress(pctx, p.deps, proxyProgress(label, start, cfg.Duration, lr)) })
	runLoad(ctx, conns, start.Add(cfg.Duration), rate, lr)
	secs := time.Since(start).Seconds()
	gen1, srv1, up1 := ownCPU(), treeCPU(t.pid), treeCPU(upPID)
	pstop()
	pwg.Wait()
	if ctx.Err() != nil {
		return ProxyPhase{}, ctx.Err()
	}
	ph := ProxyPhase{Target: t.name, Round: round, TargetRPS: rate, Seconds: secs,
		Requests: lr.ok.Load(), Errors: lr.errs.Load(), Behind: lr.behind.Load(),
		Latency: proxyLatency(lr.hist), GeneratorCores: (gen1 - gen0).Seconds() / secs}
	if v, ok := lr.firstErr.Load().(string); ok {
		ph.FirstError = v
	}
	ph.RPS = float64(ph.Requests) / secs
	if t.pid > 0 {
		ph.ServerCores = (srv1 - srv0).Seconds() / secs
		if ph.ServerCores > 0 {
			ph.RPSPerCore = ph.RPS / ph.ServerCores
		}
	}
	if upPID > 0 && t.pid != upPID {
		ph.UpstreamCores = (up1 - up0).Seconds() / secs
	}
	p.deps.Logger.Info("phase done", "target", t.name, "mode", mode, "round", round,
		"rps", int64(ph.RPS), "p99_ms", ph.Latency.P99MS, "errors", ph.Errors)
	return ph, nil
}

// proxyProgress is the progress text of one phase.
func proxyProgress(label string, start time.Time, d time.Duration, lr *loadResult) func() string {
	prevT, prevN := start, int64(0)
	prev := &Snapshot{}
	return func() string {
		now := time.Now()
		n, s := lr.ok.Load(), lr.hist.Snapshot()
		dt := max(now.Sub(prevT).Seconds(), 1e-3)
		line := fmt.Sprintf("proxy   %s  %s req/s  p99 %.2fms  errors %d  %s / %s", label,
			human(float64(n-prevN)/dt), ms(s.Sub(prev).Quantile(0.99)), lr.errs.Load(),
			now.Sub(start).Round(time.Second), d)
		prevT, prevN, prev = now, n, s
		return line
	}
}

// ownCPU is the CPU time of this process (the generator), without its children.
func ownCPU() time.Duration {
	t, _ := readCPU(os.Getpid())
	return t
}

func closeAll(conns []*rawConn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}
