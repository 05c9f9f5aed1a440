// Package app wires components into a process: it opens the shared resources the chosen
// components need (SQL store, queue, token key), builds each component with its peers, starts
// them in dependency order and stops them in reverse.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/comet"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/job"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// lifecycle is what every component implements: Start returns once the component is ready;
// Stop drains and waits for what Start began, and is safe to call again (a later call returns
// the first one's result; TestStopIsIdempotent holds every component to it).
type lifecycle interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// App is one zhibo process.
type App struct {
	cfg   config.Config
	names []string
	log   *slog.Logger
	Reg   *prometheus.Registry

	db    *sqlstore.DB
	q     *queue.Queue
	pub   *push.Publisher
	redis *cache.Redis
	grpc  *grpcx.Server
	conns []*grpc.ClientConn // to remote peers
	total *connlimit.Total   // connection budget shared by the gateway's and the comet's listeners

	remoteLogic  *logic.Remote
	remoteComets []job.Comet
	LogicAPI     *logic.API

	Account *account.Service
	Room    *room.Service
	Gift    *gift.Service
	Danmaku *danmaku.Service
	Logic   *logic.Service
	Comet   *comet.Service
	Job     *job.Service
	Gateway *gateway.Service

	started []lifecycle

	reload *reloader // the config in force and its reloads (reload.go)
}

// New checks the config and the component list; Start does the work.
func New(cfg config.Config, components []string, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := Resolve(components, cfg.Peers)
	if err != nil {
		return nil, err
	}
	split := cfg.Peers.Logic != "" || len(cfg.Peers.Comets) > 0 || cfg.GRPCAddr != ""
	if split && cfg.Queue.URL == "" && slices.ContainsFunc(names, func(n string) bool { return n != "gateway" && n != "comet" }) {
		return nil, errors.New("a cluster needs one shared queue: set queue.url to the external NATS JetStream")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	nofile := connlimit.NoFile()
	total := connlimit.NewTotal(cfg.Conns.Limit(nofile))
	log.Info("connection cap", "max_total", total.Max(), "rlimit_nofile", nofile, "fd_reserve", cfg.Conns.FDReserve)
	return &App{cfg: cfg, names: names, log: log, Reg: reg, total: total, reload: newReloader(cfg, reg)}, nil
}

func (a *App) has(n string) bool { return slices.Contains(a.names, n) }

func (a *App) logger(component string) *slog.Logger { return a.log.With("component", component) }

// Start opens resources, builds and starts every component. On failure, whatever started is
// stopped again.
func (a *App) Start(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		_ = a.Stop(context.WithoutCancel(ctx))
		return err
	}
	a.log.Info("zhibo started", "components", a.names)
	return nil
}

func (a *App) start(ctx context.Context) error {
	if a.ownsDataDir() {
		if err := privateDataDir(a.cfg.DataDir, a.log); err != nil {
			return err
		}
	}
	if a.hasAny("account", "room", "gift", "danmaku") {
		db, err := sqlstore.Open(ctx, a.cfg.Store, a.cfg.DataDir)
		if err != nil {
			return err
		}
		a.db = db
	}
	if a.hasAny("account", "logic", "room", "gift", "danmaku", "job") {
		q, err := queue.Open(ctx, a.cfg.Queue, a.cfg.DataDir, a.logger("queue"))
		if err != nil {
			return err
		}
		a.q = q
		a.pub = push.NewPublisher(q, a.Reg)
	}
	if a.cfg.Redis.Addr != "" && a.has("room") {
		r, err := cache.Open(a.cfg.Redis, a.hotKey, a.Reg)
		if err != nil {
			return err
		}
		a.redis = r
	}
	var signer *token.Signer
	if a.hasAny("account", "logic", "room") {
		key, err := token.LoadOrCreateKey(a.cfg.Secret, filepath.Join(a.cfg.DataDir, "secret"))
		if err != nil {
			return err
		}
		if signer, err = token.NewSigner(key); err != nil {
			return err
		}
	}
	idg, err := ids.New(a.cfg.Node)
	if err != nil {
		return err
	}
	if err := a.dialPeers(); err != nil {
		return err
	}
	if err := a.build(signer, idg); err != nil {
		return err
	}
	for _, l := range a.lifecycles() {
		if err := l.Start(ctx); err != nil {
			return err
		}
		a.started = append(a.started, l)
		if l == lifecycle(a.Account) {
			if err := a.checkAdmins(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *App) hasAny(names ...string) bool {
	return slices.ContainsFunc(names, a.has)
}

// lifecycles lists the built components in start order.
func (a *App) lifecycles() []lifecycle {
	var out []lifecycle
	for _, n := range a.names {
		switch n {
		case "account":
			out = append(out, a.Account)
		case "logic":
			out = append(out, a.Logic)
		case "room":
			out = append(out, a.Room)
		case "gift":
			out = append(out, a.Gift)
		case "danmaku":
			out = append(out, a.Danmaku)
		case "comet":
			out = append(out, a.Comet)
		case "job":
			out = append(out, a.Job)
		case "gateway":
			if a.grpc != nil {
				out = append(out, a.grpc) // serves peers once every local component is up
			}
			out = append(out, a.Gateway)
		}
	}
	return out
}

// Stop stops components in reverse start order, then closes the queue and the store.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	for i := len(a.started) - 1; i >= 0; i-- {
		if err := a.started[i].Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	a.started = nil
	for _, cc := range a.conns {
		_ = cc.Close()
	}
	a.conns = nil
	if a.redis != nil {
		a.redis.Close()
		a.redis = nil
	}
	if a.q != nil {
		a.q.Close()
		a.q = nil
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			errs = append(errs, err)
		}
		a.db = nil
	}
	return errors.Join(errs...)
}

// hotKey tells the shared cache which keys to keep in process memory: those a component's
// hot-key detector currently reports.
func (a *App) hotKey(key string) bool {
	return a.Room != nil && a.Room.HotKeys() != nil && a.Room.HotKeys().IsHot(key)
}

// dialPeers connects to the remote logic and comets the config names, for the local
// components that need them.
func (a *App) dialPeers() error {
	if !a.has("logic") && a.cfg.Peers.Logic != "" && a.hasAny("comet", "room") {
		cc, err := grpcx.Dial(a.cfg.Peers.Logic)
		if err != nil {
			return err
		}
		a.conns = append(a.conns, cc)
		a.remoteLogic = logic.NewRemote(cc)
	}
	if !a.has("comet") && a.has("job") {
		for _, target := range a.cfg.Peers.Comets {
			cc, err := grpcx.Dial(target)
			if err != nil {
				return err
			}
			a.conns = append(a.conns, cc)
			a.remoteComets = append(a.remoteComets, comet.NewRemote(cc, target))
		}
	}
	if a.cfg.GRPCAddr != "" {
		a.grpc = grpcx.NewServer(a.cfg.GRPCAddr, a.logger("grpc"))
	}
	return nil
}

// GRPCAddr is the address of this process's gRPC server (nil without one).
func (a *App) GRPCAddr() net.Addr {
	if a.grpc == nil {
		return nil
	}
	return a.grpc.Addr()
}

// HTTPAddr is the gateway's address (nil without a gateway).
func (a *App) HTTPAddr() net.Addr {
	if a.Gateway == nil {
		return nil
	}
	return a.Gateway.Addr()
}

// TCPAddr is the comet's raw TCP address (nil without one).
func (a *App) TCPAddr() net.Addr {
	if a.Comet == nil {
		return nil
	}
	return a.Comet.TCPAddr()
}

// Ready reports whether the shared resources answer.
func (a *App) Ready(ctx context.Context) error {
	if a.db != nil {
		if err := a.db.PingContext(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}
