package app

import (
	"context"
	"net"
	"net/http"
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
	"github.com/zhibo-live/zhibo/pkg/ids"
	"github.com/zhibo-live/zhibo/web"
)

// walletsFunc lets account show balances of a gift component built after it.
type walletsFunc func(ctx context.Context, uid int64) (int64, error)

func (f walletsFunc) Balance(ctx context.Context, uid int64) (int64, error) { return f(ctx, uid) }

// build constructs the local components with their peers; nothing starts here.
func (a *App) build(signer *token.Signer, idg *ids.Generator) error {
	var err error
	if a.has("account") {
		var wallets account.Wallets
		if a.has("gift") {
			wallets = walletsFunc(func(ctx context.Context, uid int64) (int64, error) { return a.Gift.Balance(ctx, uid) })
		}
		if a.Account, err = account.New(a.cfg.Account, account.Deps{Logger: a.logger("account"), Registry: a.Reg,
			DB: a.db, Signer: signer, Wallets: wallets}); err != nil {
			return err
		}
	}
	if a.has("logic") {
		if a.Logic, err = logic.New(a.cfg.Logic, logic.Deps{Logger: a.logger("logic"), Registry: a.Reg,
			Queue: a.q, Signer: signer, Accounts: a.Account,
			RoomExists: func(ctx context.Context, id int64) error { _, err := a.Room.Get(ctx, id); return err },
			LocalHosts: a.localHosts}); err != nil {
			return err
		}
	}
	if a.has("room") {
		if a.Room, err = room.New(a.cfg.Room, room.Deps{Logger: a.logger("room"), Registry: a.Reg, DB: a.db,
			Accounts: a.Account, Pusher: a.Logic, Counter: a.Logic}); err != nil {
			return err
		}
	}
	if a.has("gift") {
		if a.Gift, err = gift.New(a.cfg.Gift, gift.Deps{Logger: a.logger("gift"), Registry: a.Reg, DB: a.db,
			IDs: idg, Queue: a.q, Rooms: a.Room, Accounts: a.Account, Pusher: a.Logic}); err != nil {
			return err
		}
	}
	if a.has("danmaku") {
		if a.Danmaku, err = danmaku.New(a.cfg.Danmaku, danmaku.Deps{Logger: a.logger("danmaku"), Registry: a.Reg,
			DB: a.db, IDs: idg, Rooms: a.Room, Accounts: a.Account, Pusher: a.Logic}); err != nil {
			return err
		}
	}
	if a.has("comet") {
		if a.Comet, err = comet.New(a.cfg.Comet, comet.Deps{Logger: a.logger("comet"), Registry: a.Reg, Logic: a.Logic}); err != nil {
			return err
		}
	}
	if a.has("job") {
		if a.Job, err = job.New(a.cfg.Job, job.Deps{Logger: a.logger("job"), Registry: a.Reg, Queue: a.q,
			Comets: []job.Comet{a.Comet}}); err != nil {
			return err
		}
	}
	if a.has("gateway") {
		return a.buildGateway()
	}
	return nil
}

func (a *App) buildGateway() error {
	deps := gateway.Deps{Logger: a.logger("gateway"), Registry: a.Reg, Gatherer: a.Reg, Ready: a.Ready, Web: web.Handler()}
	if a.Account != nil {
		deps.Verifier = a.Account
		deps.Routes = append(deps.Routes, a.Account)
		deps.OpenAPI = append(deps.OpenAPI, account.OpenAPI())
	}
	if a.Room != nil {
		deps.Routes = append(deps.Routes, a.Room)
		deps.OpenAPI = append(deps.OpenAPI, room.OpenAPI())
	}
	if a.Logic != nil {
		deps.Routes = append(deps.Routes, a.Logic)
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
	var err error
	a.Gateway, err = gateway.New(a.cfg.Gateway, deps)
	return err
}

// localHosts is the danmu-info host list of an all-in-one node: the host name the client
// used, the gateway port for WebSocket and the comet's TCP port.
func (a *App) localHosts(r *http.Request) []logic.Host {
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
