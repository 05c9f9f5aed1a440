package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/comet"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/job"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/pkg/ids"
	"github.com/zhibo-live/zhibo/web"
)

// walletsFunc lets account show balances of a gift component built after it.
type walletsFunc func(ctx context.Context, uid int64) (int64, error)

func (f walletsFunc) Balance(ctx context.Context, uid int64) (int64, error) { return f(ctx, uid) }

// build constructs the local components with their peers; nothing starts here.
func (a *App) build(signer *token.Signer, idg *ids.Generator) error {
	var err error
	words := a.cfg.Words() // the banned words of every user-visible text field, built once
	if a.has("account") {
		var wallets account.Wallets
		if a.has("gift") {
			wallets = walletsFunc(func(ctx context.Context, uid int64) (int64, error) { return a.Gift.Balance(ctx, uid) })
		}
		if a.Account, err = account.New(a.cfg.Account, account.Deps{Logger: a.logger("account"), Registry: a.Reg,
			DB: a.db, Signer: signer, Wallets: wallets, Queue: a.q, Words: words}); err != nil {
			return err
		}
	}
	if a.has("logic") {
		if a.Logic, err = logic.New(a.cfg.Logic, logic.Deps{Logger: a.logger("logic"), Registry: a.Reg,
			Queue: a.q, Publisher: a.pub, Signer: signer}); err != nil {
			return err
		}
		if a.grpc != nil {
			logic.RegisterGRPC(a.grpc, a.Logic, a.pub)
		}
	}
	if a.has("room") {
		var counter logic.Counter
		switch {
		case a.Logic != nil:
			counter = a.Logic
		case a.remoteLogic != nil:
			counter = a.remoteLogic
		}
		deps := room.Deps{Logger: a.logger("room"), Registry: a.Reg, DB: a.db,
			Accounts: a.Account, Pusher: a.pub, Counter: counter, IsAdmin: a.isAdmin, Queue: a.q, Words: words}
		if a.redis != nil {
			deps.Shared = a.redis
		}
		if a.Room, err = room.New(a.cfg.Room, deps); err != nil {
			return err
		}
		a.Room.AddHotKeys("room", func() []room.HotKey { return hotKeys(a.Room.HotKeys()) })
		if a.LogicAPI, err = logic.NewAPI(a.cfg.Logic, logic.APIDeps{Logger: a.logger("room"), Signer: signer,
			Accounts: a.Account, LocalHosts: a.localHosts, Pusher: a.pub, IsAdmin: a.isAdmin,
			RoomExists: func(ctx context.Context, id int64) error { _, err := a.Room.Get(ctx, id); return err },
		}); err != nil {
			return err
		}
		if a.Comet == nil && !a.has("comet") && len(a.cfg.Logic.Hosts) == 0 {
			a.log.Warn("danmu-info will list no hosts: no comet runs here, set logic.hosts to the comets' public addresses")
		}
	}
	var exp *account.ExpPublisher // one per process: its metrics are registered once
	if a.hasAny("gift", "danmaku") {
		if exp, err = account.NewExpPublisher(a.q, a.Reg); err != nil {
			return err
		}
	}
	if a.has("gift") {
		if a.Gift, err = gift.New(a.cfg.Gift, gift.Deps{Logger: a.logger("gift"), Registry: a.Reg, DB: a.db,
			IDs: idg, Queue: a.q, Rooms: a.Room, Accounts: a.Account, Pusher: a.pub, Exp: exp, IsAdmin: a.isAdmin}); err != nil {
			return err
		}
		a.Room.AddHotKeys("gift_rank", func() []room.HotKey { return hotKeys(a.Gift.RankKeys()) })
	}
	if a.has("danmaku") {
		if a.Danmaku, err = danmaku.New(a.cfg.Danmaku, danmaku.Deps{Logger: a.logger("danmaku"), Registry: a.Reg,
			DB: a.db, IDs: idg, Rooms: a.Room, Accounts: a.Account, Pusher: a.pub, Exp: exp, Words: words}); err != nil {
			return err
		}
		a.Room.AddHotKeys("danmaku_mutes", func() []room.HotKey { return hotKeys(a.Danmaku.MuteKeys()) })
	}
	if a.has("comet") {
		var l comet.Logic = a.remoteLogic
		if a.Logic != nil {
			l = a.Logic
		}
		cfg := a.cfg.Comet
		if cfg.ServerID == "" {
			host, _ := os.Hostname()
			cfg.ServerID = fmt.Sprintf("%s-%d", host, os.Getpid()) // unique per process, even many on one host
		}
		if a.Comet, err = comet.New(cfg, comet.Deps{Logger: a.logger("comet"), Registry: a.Reg, Logic: l,
			Conns: a.total}); err != nil {
			return err
		}
		if a.grpc != nil {
			comet.RegisterGRPC(a.grpc, a.Comet)
		}
	}
	if a.has("job") {
		comets := a.remoteComets
		if a.Comet != nil {
			comets = []job.Comet{a.Comet}
		}
		if a.Job, err = job.New(a.cfg.Job, job.Deps{Logger: a.logger("job"), Registry: a.Reg, Queue: a.q,
			Comets: comets}); err != nil {
			return err
		}
	}
	if a.has("gateway") {
		return a.buildGateway()
	}
	return nil
}

func (a *App) buildGateway() error {
	deps := gateway.Deps{Logger: a.logger("gateway"), Registry: a.Reg, Gatherer: a.Reg, Ready: a.Ready,
		Web: web.Handler(a.cfg.Room.CoverHosts...), Conns: a.total}
	if a.Account != nil {
		deps.Verifier = a.Account
		deps.Routes = append(deps.Routes, a.Account)
		deps.OpenAPI = append(deps.OpenAPI, account.OpenAPI())
	}
	if a.Room != nil {
		deps.Routes = append(deps.Routes, a.Room)
		deps.OpenAPI = append(deps.OpenAPI, room.OpenAPI())
	}
	if a.LogicAPI != nil {
		deps.Routes = append(deps.Routes, a.LogicAPI)
		deps.OpenAPI = append(deps.OpenAPI, logic.OpenAPI())
	}
	if a.Danmaku != nil {
		deps.Routes = append(deps.Routes, a.Danmaku)
		deps.OpenAPI = append(deps.OpenAPI, danmaku.OpenAPI())
	}
	if a.Gift != nil {
		deps.Routes = append(deps.Routes, a.Gift)
		deps.OpenAPI = append(deps.OpenAPI, gift.OpenAPI())
	}
	if a.Comet != nil {
		deps.Sub = a.Comet.Handler()
	}
	deps.Routes = append(deps.Routes, reloadRoutes{a}) // reload.go
	deps.OpenAPI = append(deps.OpenAPI, reloadOpenAPI)
	var err error
	a.Gateway, err = gateway.New(a.cfg.Gateway, deps)
	return err
}

// localHosts is the danmu-info host list of a node that runs a comet: the host name the client
// used, the gateway port for WebSocket and the comet's TCP port.
func (a *App) localHosts(r *http.Request) []logic.Host {
	if a.Comet == nil {
		return nil
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	h := logic.Host{Host: host}
	wsPort, _ := strconv.Atoi(port)
	if r.TLS != nil {
		h.WSSPort = wsPort
	} else {
		h.WSPort = wsPort
	}
	if tcp, ok := a.TCPAddr().(*net.TCPAddr); ok && tcp != nil {
		h.Port = tcp.Port
	}
	return []logic.Host{h}
}

// isAdmin reports whether uid may call operator routes (admins as last reloaded).
func (a *App) isAdmin(uid int64) bool { return a.reload.isAdmin(uid) }

// hotKeys lists a detector's current top keys for /api/admin/hot.
func hotKeys(d *hotkey.Detector) []room.HotKey {
	out := []room.HotKey{}
	if d == nil {
		return out
	}
	for _, it := range d.TopK() {
		out = append(out, room.HotKey{Key: it.Key, Count: it.Count})
	}
	return out
}
