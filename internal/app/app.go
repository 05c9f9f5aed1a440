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
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/bff"
	"github.com/zhibo-live/zhibo/internal/comet"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/job"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/media"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/presence"
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

	stores map[string]*sqlstore.DB // by component; components on the same store share one pool
	q      *queue.Queue
	pub    *push.Publisher
	redis  *cache.Redis
	grpc   *grpcx.Server
	conns  []*grpc.ClientConn // to remote peers
	rpcm   *grpcx.Metrics     // gRPC server and client metrics of this process
	// elasticm counts the calls to peers by pool (fixed or elastic).
	elasticm *elastic.Metrics
	// peerOptions are the options of connections to peers (peerOpts), built on first use.
	peerOptions []grpcx.Option
	total       *connlimit.Total // connection budget shared by the gateway's and the comet's listeners
	signer      *token.Signer
	ids         *ids.Generator
	words       textnorm.Words // the banned words of every user-visible text field, built once
	exp         *account.ExpPublisher
	// presence is the shared bucket of comet reports (logic writes, jobs read).
	presence *presence.Table
	// leases: once-per-cluster work (relays, refreshes, pruning) holds a lease on the queue.
	leases *lease.Node
	// hot: the hot rooms and keys of the cluster as this process sees them (hot.go).
	hot *hotState

	// What local components use of their peers: the local component, or its gRPC client
	// when peers names another process.
	accounts     account.Client
	rooms        room.Client
	gifts        gift.Client
	danmakus     danmaku.Client
	imChats      chat.Client   // nil: no im-chat here nor in peers
	imGroups     group.Client  // nil: no im-group here nor in peers
	imNotices    notice.Client // nil: no im-notice here nor in peers
	remoteLogic  *logic.Remote
	remoteMedia  *media.Remote
	remoteComets []job.Comet
	LogicAPI     *logic.API

	Account  *account.Service
	Room     *room.Service
	Gift     *gift.Service
	Danmaku  *danmaku.Service
	BFF      *bff.Service
	Logic    *logic.Service
	Comet    *comet.Service
	Job      *job.Service
	Media    *media.Service
	IMChat   *chat.Service
	IMGroup  *group.Service
	IMNotice *notice.Service
	Gateway  *gateway.Service

	built   []lifecycle // every local component, in start order
	started []lifecycle

	reload *reloader // the config in force and its reloads (reload.go)
}

// New checks the config and the component list; Start does the work.
func New(cfg config.Config, components []string, log *slog.Logger) (*App, error) {
	names, err := Plan(cfg, components)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoGauge())
	nofile := connlimit.NoFile()
	total := connlimit.NewTotal(cfg.Conns.Limit(nofile))
	log.Info("connection cap", "max_total", total.Max(), "rlimit_nofile", nofile, "fd_reserve", cfg.Conns.FDReserve)
	return &App{cfg: cfg, names: names, log: log, Reg: reg, total: total, reload: newReloader(cfg, reg),
		rpcm: grpcx.NewMetrics(reg), elasticm: elastic.NewMetrics(reg)}, nil
}

// Plan checks the config and whether the listed components can run on it in one process
// (every peer local or named, upstreams, a shared queue where a cluster needs one), opening
// nothing; it returns the components in start order. New and `zhibo config check
// --components` use it.
func Plan(cfg config.Config, components []string) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := Resolve(components, cfg.Peers)
	if err != nil {
		return nil, err
	}
	if err := checkUpstreams(cfg, names); err != nil {
		return nil, err
	}
	if slices.Contains(names, "job") && !slices.Contains(names, "comet") && cfg.Queue.URL == "" {
		return nil, errors.New("a job without a comet in its process finds the comets through the shared queue: set queue.url (and run logic, which the comets report to, on the same queue)")
	}
	split := cfg.GRPCAddr != "" || slices.ContainsFunc(AllNames(), func(n string) bool { return remoteTarget(n, cfg.Peers) != "" })
	if split && cfg.Queue.URL == "" && slices.ContainsFunc(names, func(n string) bool { c, _ := component(n); return c.Queue }) {
		return nil, errors.New("a cluster needs one shared queue: set queue.url to the external NATS JetStream")
	}
	return names, nil
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
	if err := a.openStores(ctx); err != nil {
		return err
	}
	// A BFF alone needs no queue, but with one it sees the cluster's hot rooms (hot.go); a
	// gateway alone, the operator's route table all gateways share.
	if a.needs(func(c Component) bool { return c.Queue }) || ((a.has("bff") || a.has("gateway")) && a.cfg.Queue.URL != "") {
		q, err := queue.Open(ctx, a.cfg.Queue, a.cfg.DataDir, a.logger("queue"))
		if err != nil {
			return err
		}
		a.q = q
		a.Reg.MustRegister(q.Collector())
		a.pub = push.NewPublisher(q, a.Reg)
		if a.leases, err = lease.New(a.cfg.Lease, lease.Deps{Queue: q, Logger: a.logger("lease"), Registry: a.Reg}); err != nil {
			return err
		}
	}
	// Room caches in Redis; the gateway counts its shared limit rules there. A gateway
	// without room starts without a reachable Redis: its shared rules then count in this
	// process alone (counted as fallbacks) until a restart finds Redis.
	if a.cfg.Redis.Addr != "" {
		r, err := cache.Open(a.cfg.Redis, a.hotKey, a.Reg)
		switch {
		case err == nil:
			a.redis = r
		case a.has("room"):
			return err
		default:
			a.log.Warn("redis unreachable: shared gateway limits count in this process alone until a restart", "err", err)
		}
	}
	if a.needs(func(c Component) bool { return c.Key }) {
		key, err := token.LoadOrCreateKey(a.cfg.Secret, filepath.Join(a.cfg.DataDir, "secret"))
		if err != nil {
			return err
		}
		if a.signer, err = token.NewSigner(key); err != nil {
			return err
		}
	}
	var err error
	if a.ids, err = ids.New(a.cfg.Node); err != nil {
		return err
	}
	a.words = a.cfg.Words()
	if err := a.openHot(ctx); err != nil {
		return err
	}
	if err := a.dialPeers(); err != nil {
		return err
	}
	if err := a.build(); err != nil {
		return err
	}
	if w := a.revocationWatch(); w != nil { // first to start, last to stop
		a.built = append([]lifecycle{w}, a.built...)
	}
	for _, l := range a.built {
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
	return a.watchHot(ctx)
}

// needs reports whether a local component has the property.
func (a *App) needs(prop func(Component) bool) bool {
	return slices.ContainsFunc(a.names, func(n string) bool { c, _ := component(n); return prop(c) })
}

// openStores opens the store of each local component that owns tables, one pool per distinct
// store, so an all-in-one process shares one and a split one opens only its own.
func (a *App) openStores(ctx context.Context) error {
	a.stores = map[string]*sqlstore.DB{}
	open := map[sqlstore.Config]*sqlstore.DB{}
	for _, n := range a.names {
		if c, _ := component(n); !c.Store {
			continue
		}
		sc := a.cfg.StoreOf(n)
		db, ok := open[sc]
		if !ok {
			var err error
			if db, err = sqlstore.Open(ctx, sc, a.cfg.DataDir); err != nil {
				return fmt.Errorf("%s store: %w", n, err)
			}
			open[sc] = db
		}
		a.stores[n] = db
	}
	// Pool stats (go_sql_*{db_name}) per pool: named after the components that share it.
	users := map[*sqlstore.DB][]string{}
	for _, n := range a.names {
		if db := a.stores[n]; db != nil {
			users[db] = append(users[db], n)
		}
	}
	for db, ns := range users {
		name := strings.Join(ns, ",")
		if err := a.Reg.Register(collectors.NewDBStatsCollector(db.DB, name)); err != nil {
			return fmt.Errorf("store metrics: %w", err)
		}
		if r := db.Reader(); r != db.DB {
			if err := a.Reg.Register(collectors.NewDBStatsCollector(r, name+" replica")); err != nil {
				return fmt.Errorf("store metrics: %w", err)
			}
		}
	}
	return nil
}

// db is the store of local component n.
func (a *App) db(n string) *sqlstore.DB { return a.stores[n] }

// lifecycles lists the built components in start order.
func (a *App) lifecycles() []lifecycle { return a.built }

// Stop stops components in reverse start order, then closes the queue and the store.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	a.stopHot()
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
	closed := map[*sqlstore.DB]bool{}
	for _, db := range a.stores {
		if !closed[db] {
			closed[db] = true
			if err := db.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	a.stores = nil
	return errors.Join(errs...)
}

// hotKey tells the shared cache which keys to keep in process memory: those a component's
// hot-key detector currently reports.
func (a *App) hotKey(key string) bool {
	return a.Room != nil && a.Room.HotKeys() != nil && a.Room.HotKeys().IsHot(key)
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

// RTMPAddr is the media component's RTMP address (nil without one).
func (a *App) RTMPAddr() net.Addr {
	if a.Media == nil {
		return nil
	}
	return a.Media.RTMPAddr()
}

// Ready reports whether the shared resources answer.
func (a *App) Ready(ctx context.Context) error {
	for n, db := range a.stores {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("%s store: %w", n, err)
		}
	}
	return nil
}
