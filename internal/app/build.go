package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/bff"
	"github.com/zhibo-live/zhibo/internal/comet"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/job"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/media"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/presence"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/web"
)

func init() {
	registry = []Component{
		{Name: "account", About: "users, login, session tokens", Uses: []string{"gift"}, Optional: []string{"gift"},
			Store: true, Queue: true, Key: true, build: buildAccount, schema: account.Migrations,
			serve:   func(a *App, s *grpcx.Server) { account.RegisterGRPC(s, a.Account) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.Account} },
			openAPI: func() [][]byte { return [][]byte{account.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.Account },
			dial: func(a *App) error {
				cc, err := a.dialPeer("account", a.cfg.Peers.Account)
				a.accounts = account.NewRemote(cc, a.cfg.Peers.CacheTTL)
				return err
			}},
		{Name: "logic", About: "connection auth, online counts across comets", Queue: true, Key: true, build: buildLogic,
			serve:  func(a *App, s *grpcx.Server) { logic.RegisterGRPC(s, a.Logic) },
			remote: func(p config.Peers) string { return p.Logic },
			dial: func(a *App) error {
				cc, err := a.dialPeer("logic", a.cfg.Peers.Logic)
				a.remoteLogic = logic.NewRemote(cc)
				return err
			}},
		{Name: "room", About: "rooms, live status, stream keys, tags, feature switches, room list, danmu-info and the push API (without media: no video viewers in stats)",
			Uses: []string{"account", "logic", "media"}, Optional: []string{"logic", "media"}, Store: true, Queue: true, Key: true, build: buildRoom,
			schema:  room.Migrations,
			serve:   func(a *App, s *grpcx.Server) { room.RegisterGRPC(s, a.Room) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.Room, a.LogicAPI} },
			openAPI: func() [][]byte { return [][]byte{room.OpenAPI(), logic.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.Room },
			dial: func(a *App) error {
				cc, err := a.dialPeer("room", a.cfg.Peers.Room)
				a.rooms = room.NewRemote(cc, a.cfg.Peers.CacheTTL)
				return err
			}},
		{Name: "gift", About: "gift catalog, wallets, idempotent gift orders, ranks, anchor scores",
			Uses: []string{"account", "room"}, Store: true, Queue: true, build: buildGift, schema: gift.Migrations,
			serve:   func(a *App, s *grpcx.Server) { gift.RegisterGRPC(s, a.Gift) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.Gift} },
			openAPI: func() [][]byte { return [][]byte{gift.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.Gift },
			dial: func(a *App) error {
				cc, err := a.dialPeer("gift", a.cfg.Peers.Gift)
				a.gifts = gift.NewRemote(cc)
				return err
			}},
		{Name: "danmaku", About: "bullet comments: validation, limits, mutes, history",
			Uses: []string{"account", "room"}, Store: true, Queue: true, build: buildDanmaku, schema: danmaku.Migrations,
			serve:   func(a *App, s *grpcx.Server) { danmaku.RegisterGRPC(s, a.Danmaku) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.Danmaku} },
			openAPI: func() [][]byte { return [][]byte{danmaku.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.Danmaku },
			dial: func(a *App) error {
				cc, err := a.dialPeer("danmaku", a.cfg.Peers.Danmaku)
				a.danmakus = danmaku.NewRemote(cc)
				return err
			}},
		{Name: "comet", About: "long connections (WebSocket /sub and raw TCP), rooms in buckets", Uses: []string{"logic"},
			build:  buildComet,
			serve:  func(a *App, s *grpcx.Server) { comet.RegisterGRPC(s, a.Comet) },
			remote: func(p config.Peers) string { return joinTargets(p.Comets) },
			dial: func(a *App) error {
				for _, target := range a.cfg.Peers.Comets {
					cc, err := a.dial(target)
					if err != nil {
						return err
					}
					a.remoteComets = append(a.remoteComets, comet.NewRemote(cc, target))
				}
				return nil
			}},
		{Name: "job", About: "consumes the push queue, merges per room, sends each room to the comets that hold it",
			Uses: []string{"comet"}, Optional: []string{"comet"}, Queue: true, build: buildJob},
		{Name: "media", About: "RTMP ingest by stream key, HTTP-FLV and HLS playback, live status from the video",
			Uses: []string{"room"}, build: buildMedia, streams: media.StreamPrefixes,
			serve:   func(a *App, s *grpcx.Server) { media.RegisterGRPC(s, a.Media) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.Media} },
			openAPI: func() [][]byte { return [][]byte{media.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.Media },
			dial: func(a *App) error {
				cc, err := a.dialPeer("media", a.cfg.Peers.Media)
				a.remoteMedia = media.NewRemote(cc)
				return err
			}},
		{Name: "im-chat", About: "private messages between two users: send through the queue, conversations, unread counts, recall, blocks",
			Uses: []string{"account"}, Store: true, Queue: true, build: buildIMChat, schema: chat.Migrations,
			serve:   func(a *App, s *grpcx.Server) { chat.RegisterGRPC(s, a.IMChat) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.IMChat} },
			openAPI: func() [][]byte { return [][]byte{chat.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.IMChat },
			dial: func(a *App) error {
				cc, err := a.dialPeer("im-chat", a.cfg.Peers.IMChat)
				a.imChats = chat.NewRemote(cc)
				return err
			}},
		{Name: "im-group", About: "group chat: groups and members, one timeline per group read by every member, sends through the queue",
			Uses: []string{"account"}, Store: true, Queue: true, build: buildIMGroup, schema: group.Migrations,
			serve:   func(a *App, s *grpcx.Server) { group.RegisterGRPC(s, a.IMGroup) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.IMGroup} },
			openAPI: func() [][]byte { return [][]byte{group.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.IMGroup },
			dial: func(a *App) error {
				cc, err := a.dialPeer("im-group", a.cfg.Peers.IMGroup)
				a.imGroups = group.NewRemote(cc)
				return err
			}},
		{Name: "im-notice", About: "system notices and batch sends: content once, a pointer per inbox, a normal lane under quota and a high-priority lane; mention and reply notices from bullet comments, follow notices, like notices for anchors (without room: no like notices)",
			Uses: []string{"account", "room"}, Optional: []string{"room"}, Store: true, Queue: true, build: buildIMNotice, schema: notice.Migrations,
			serve:   func(a *App, s *grpcx.Server) { notice.RegisterGRPC(s, a.IMNotice) },
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.IMNotice} },
			openAPI: func() [][]byte { return [][]byte{notice.OpenAPI()} },
			remote:  func(p config.Peers) string { return p.IMNotice },
			dial: func(a *App) error {
				cc, err := a.dialPeer("im-notice", a.cfg.Peers.IMNotice)
				a.imNotices = notice.NewRemote(cc)
				return err
			}},
		{Name: "bff", About: "the interface layer: one call per page (room enter, home, the inbox), modules fetched concurrently, each degradable (without an IM component: the inbox's modules of it are null)",
			Uses:     []string{"account", "room", "gift", "danmaku", "im-chat", "im-group", "im-notice"},
			Optional: []string{"im-chat", "im-group", "im-notice"}, Key: true, build: buildBFF,
			routes:  func(a *App) []gateway.Routes { return []gateway.Routes{a.BFF} },
			openAPI: func() [][]byte { return [][]byte{bff.OpenAPI()} }},
		{Name: "gateway", About: "HTTP entry of every process: API of local components (and forwarding to remote ones), web UI, /sub, metrics, health",
			Uses: []string{"account"}, Optional: []string{"account"}, Key: true, build: buildGateway},
	}
}

func joinTargets(ts []string) string {
	if len(ts) == 0 {
		return ""
	}
	return fmt.Sprint(ts)
}

// dial opens (lazily) a connection to a peer; the app closes it on Stop.
func (a *App) dial(target string) (*grpc.ClientConn, error) {
	opts, err := a.peerOpts()
	if err != nil {
		return nil, err
	}
	cc, err := grpcx.Dial(target, opts...)
	if err != nil {
		return nil, err
	}
	a.conns = append(a.conns, cc)
	return cc, nil
}

// dialPeer opens the connection to component name at target and, when peers.elastic names
// an elastic target for it, one there too: the calls of requests marked for the elastic pool
// go to that one (elastic.Conn, which counts every call by pool).
func (a *App) dialPeer(name, target string) (grpc.ClientConnInterface, error) {
	fixed, err := a.dial(target)
	if err != nil {
		return nil, err
	}
	var pool *grpc.ClientConn
	if t := a.cfg.Peers.Elastic.Of(name); t != "" {
		if pool, err = a.dial(t); err != nil {
			return nil, fmt.Errorf("peers.elastic.%s: %w", name, err)
		}
		a.log.Info("elastic peer", "component", name, "target", t)
	}
	return elastic.NewConn(name, fixed, pool, a.elasticm), nil
}

// dialPeers makes a client for every component a local one uses that does not run here but
// is named in peers.
func (a *App) dialPeers() error {
	for _, c := range registry {
		if a.has(c.Name) || c.dial == nil || c.remote(a.cfg.Peers) == "" || !a.usedHere(c.Name) {
			continue
		}
		if err := c.dial(a); err != nil {
			return err
		}
		a.log.Info("peer", "component", c.Name, "target", c.remote(a.cfg.Peers))
	}
	if a.cfg.GRPCAddr != "" {
		opts, err := a.grpcServerOpts()
		if err != nil {
			return err
		}
		a.grpc = grpcx.NewServer(a.cfg.GRPCAddr, a.logger("grpc"), opts...)
	}
	return nil
}

// usedHere reports whether a local component uses component n.
func (a *App) usedHere(n string) bool {
	return slices.ContainsFunc(a.names, func(local string) bool {
		c, _ := component(local)
		return slices.Contains(c.Uses, n)
	})
}

// build constructs the local components in start order with their peers; nothing starts here.
func (a *App) build() error {
	for _, n := range a.names {
		c, _ := component(n)
		l, err := c.build(a)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		a.built = append(a.built, l)
		if a.grpc != nil && c.serve != nil {
			c.serve(a, a.grpc)
		}
	}
	return nil
}

// walletsFunc lets account show balances of a gift component built after it, or remote.
type walletsFunc func(ctx context.Context, uid int64) (int64, error)

func (f walletsFunc) Balance(ctx context.Context, uid int64) (int64, error) { return f(ctx, uid) }

func buildAccount(a *App) (lifecycle, error) {
	var wallets account.Wallets
	if a.has("gift") || a.cfg.Peers.Gift != "" {
		wallets = walletsFunc(func(ctx context.Context, uid int64) (int64, error) { return a.gifts.Balance(ctx, uid) })
	}
	var err error
	a.Account, err = account.New(a.cfg.Account, account.Deps{Logger: a.logger("account"), Registry: a.Reg,
		DB: a.db("account"), Signer: a.signer, Wallets: wallets, Queue: a.q, Words: a.words, Leases: a.leases, IDs: a.ids})
	a.accounts = a.Account
	return a.Account, err
}

func buildLogic(a *App) (lifecycle, error) {
	p, err := a.presenceTable()
	if err != nil {
		return nil, err
	}
	a.Logic, err = logic.New(a.cfg.Logic, logic.Deps{Logger: a.logger("logic"), Registry: a.Reg,
		Queue: a.q, Publisher: a.pub, Signer: a.signer, Presence: p, Leases: a.leases})
	return a.Logic, err
}

// presenceTable is the process's handle on the presence bucket, opened on first use.
func (a *App) presenceTable() (*presence.Table, error) {
	if a.presence != nil {
		return a.presence, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	a.presence, err = presence.Open(ctx, a.q, a.logger("presence"))
	return a.presence, err
}

func buildRoom(a *App) (lifecycle, error) {
	var counter logic.Counter
	switch {
	case a.Logic != nil:
		counter = a.Logic
	case a.remoteLogic != nil:
		counter = a.remoteLogic
	default:
		a.log.Warn("room: no logic here and none named in peers.logic: online counts read as zero")
	}
	deps := room.Deps{Logger: a.logger("room"), Registry: a.Reg, DB: a.db("room"),
		Accounts: a.accounts, Pusher: a.pub, Counter: counter, IsAdmin: a.isAdmin, Queue: a.q, Words: a.words, Leases: a.leases,
		Hot: a.hot.tracker, Pins: a.hotPins(), OnWrite: a.roomWritten}
	if a.redis != nil {
		deps.Shared = a.redis
	}
	var err error
	if a.Room, err = room.New(a.cfg.Room, deps); err != nil {
		return nil, err
	}
	a.rooms = a.Room
	if a.remoteMedia != nil { // media in this process is wired in buildMedia
		a.Room.CountVideoViewers(a.remoteMedia.VideoViewers)
	}
	a.Room.AddHotKeys("room", func() []room.HotKey { return hotKeys(a.Room.HotKeys()) })
	if a.LogicAPI, err = logic.NewAPI(a.cfg.Logic, logic.APIDeps{Logger: a.logger("room"), Signer: a.signer,
		Accounts: a.accounts, LocalHosts: a.localHosts, Pusher: a.pub, IsAdmin: a.isAdmin,
		RoomExists: func(ctx context.Context, id int64) error { _, err := a.Room.Get(ctx, id); return err },
	}); err != nil {
		return nil, err
	}
	if !a.has("comet") && len(a.cfg.Logic.Hosts) == 0 {
		a.log.Warn("danmu-info will list no hosts: no comet runs here, set logic.hosts to the comets' public addresses")
	}
	return a.Room, nil
}

func buildGift(a *App) (lifecycle, error) {
	exp, err := a.expPublisher()
	if err != nil {
		return nil, err
	}
	if a.Gift, err = gift.New(a.cfg.Gift, gift.Deps{Logger: a.logger("gift"), Registry: a.Reg, DB: a.db("gift"),
		IDs: a.ids, Queue: a.q, Rooms: a.rooms, Accounts: a.accounts, Pusher: a.pub, Exp: exp, IsAdmin: a.isAdmin, Leases: a.leases,
		Hot: a.hot.tracker, OnRanks: a.ranksChanged}); err != nil {
		return nil, err
	}
	a.gifts = a.Gift
	if a.Room != nil {
		a.Room.AddHotKeys("gift_rank", func() []room.HotKey { return hotKeys(a.Gift.RankKeys()) })
	}
	return a.Gift, nil
}

func buildIMChat(a *App) (lifecycle, error) {
	deps := chat.Deps{Logger: a.logger("im-chat"), Registry: a.Reg, DB: a.db("im-chat"),
		IDs: a.ids, Queue: a.q, Accounts: a.accounts, Pusher: a.pub, Words: a.words, Leases: a.leases, IsAdmin: a.isAdmin}
	if a.redis != nil {
		deps.Shared = a.redis
	}
	var err error
	if len(a.cfg.IMChat.Services) > 0 && a.cfg.IMChat.AgentStale > 0 { // agents assigned by presence
		if deps.Presence, err = a.presenceTable(); err != nil {
			return nil, err
		}
	}
	if a.IMChat, err = chat.New(a.cfg.IMChat, deps); err != nil {
		return nil, err
	}
	a.imChats = a.IMChat
	return a.IMChat, nil
}

func buildIMGroup(a *App) (lifecycle, error) {
	var err error
	deps := group.Deps{Logger: a.logger("im-group"), Registry: a.Reg, DB: a.db("im-group"),
		IDs: a.ids, Queue: a.q, Accounts: a.accounts, Pusher: a.pub, Words: a.words, Leases: a.leases}
	if a.redis != nil {
		deps.Shared = a.redis
	}
	if a.IMGroup, err = group.New(a.cfg.IMGroup, deps); err != nil {
		return nil, err
	}
	a.imGroups = a.IMGroup
	return a.IMGroup, nil
}

func buildIMNotice(a *App) (lifecycle, error) {
	cfg := a.cfg.IMNotice
	deps := notice.Deps{Logger: a.logger("im-notice"), Registry: a.Reg, DB: a.db("im-notice"),
		IDs: a.ids, Queue: a.q, Pusher: a.pub, IsAdmin: a.isAdmin, Accounts: a.accounts, Leases: a.leases}
	if a.rooms != nil {
		deps.Rooms = a.rooms
	} else if cfg.Likes {
		a.log.Warn("im-notice: no room here and none named in peers.room: no like notices")
		cfg.Likes = false
	}
	var err error
	if a.IMNotice, err = notice.New(cfg, deps); err != nil {
		return nil, err
	}
	a.imNotices = a.IMNotice
	return a.IMNotice, nil
}

func buildDanmaku(a *App) (lifecycle, error) {
	exp, err := a.expPublisher()
	if err != nil {
		return nil, err
	}
	if a.Danmaku, err = danmaku.New(a.cfg.Danmaku, danmaku.Deps{Logger: a.logger("danmaku"), Registry: a.Reg,
		DB: a.db("danmaku"), IDs: a.ids, Rooms: a.rooms, Accounts: a.accounts, Pusher: a.pub, Exp: exp, Words: a.words, Queue: a.q,
		Leases: a.leases, Hot: a.hot.tracker, OnComment: a.commentStored}); err != nil {
		return nil, err
	}
	a.danmakus = a.Danmaku
	if a.Room != nil {
		a.Room.AddHotKeys("danmaku_mutes", func() []room.HotKey { return hotKeys(a.Danmaku.MuteKeys()) })
	}
	return a.Danmaku, nil
}

// buildBFF builds the page BFF over its peers, local or remote. It issues danmaku connection
// tokens itself (it holds the cluster's key) for rooms it has read, through the room
// process's token issuer when room runs here.
func buildBFF(a *App) (lifecycle, error) {
	issuer := a.LogicAPI
	if issuer == nil {
		var err error
		if issuer, err = logic.NewAPI(a.cfg.Logic, logic.APIDeps{Logger: a.logger("bff"), Signer: a.signer,
			Accounts: a.accounts, LocalHosts: a.localHosts, IsAdmin: a.isAdmin,
			RoomExists: func(ctx context.Context, id int64) error { _, err := a.rooms.Get(ctx, id); return err },
		}); err != nil {
			return nil, err
		}
		if !a.has("comet") && len(a.cfg.Logic.Hosts) == 0 {
			a.log.Warn("room enter will list no danmaku hosts: no comet runs here, set logic.hosts to the comets' public addresses")
		}
	}
	deps := bff.Deps{Logger: a.logger("bff"), Registry: a.Reg, Rooms: a.rooms, Gifts: a.gifts,
		Danmaku: a.danmakus, DanmuInfo: issuer.DanmuInfoFor, Hot: a.hot.tracker}
	// Interface values only when set: a nil *Remote in an interface is not a nil interface.
	if a.imChats != nil {
		deps.Chats = a.imChats
	}
	if a.accounts != nil {
		deps.Accounts = a.accounts
	}
	if a.imGroups != nil {
		deps.Groups = a.imGroups
	}
	if a.imNotices != nil {
		deps.Notices = a.imNotices
	}
	for _, n := range []string{"im-chat", "im-group", "im-notice"} {
		if !a.has(n) && remoteTarget(n, a.cfg.Peers) == "" {
			a.log.Warn("the inbox's modules of "+n+" will be null: it runs neither here nor in peers", "flag", peerFlag(n))
		}
	}
	var err error
	a.BFF, err = bff.New(a.cfg.BFF, deps)
	return a.BFF, err
}

// expPublisher is the process's one experience publisher (its metrics are registered once),
// shared by gift and danmaku.
func (a *App) expPublisher() (*account.ExpPublisher, error) {
	if a.exp != nil {
		return a.exp, nil
	}
	var err error
	a.exp, err = account.NewExpPublisher(a.q, a.Reg)
	return a.exp, err
}

func buildComet(a *App) (lifecycle, error) {
	var l comet.Logic = a.remoteLogic
	if a.Logic != nil {
		l = a.Logic
	}
	cfg := a.cfg.Comet
	host, _ := os.Hostname()
	if cfg.ServerID == "" {
		cfg.ServerID = fmt.Sprintf("%s-%d", host, os.Getpid()) // unique per process, even many on one host
	}
	if cfg.AdvertiseAddr == "" && a.cfg.GRPCAddr != "" {
		cfg.AdvertiseAddr = advertised(a.cfg.GRPCAddr, host)
	}
	var err error
	a.Comet, err = comet.New(cfg, comet.Deps{Logger: a.logger("comet"), Registry: a.Reg, Logic: l, Conns: a.total})
	return a.Comet, err
}

func buildJob(a *App) (lifecycle, error) {
	deps := job.Deps{Logger: a.logger("job"), Registry: a.Reg, Queue: a.q, Comets: a.remoteComets}
	if a.Comet != nil {
		deps.Comets = []job.Comet{a.Comet} // the one comet there is: no routing to do
	} else {
		// Comets in other processes: route each room to those that hold it, and find them
		// (new ones included) through their reports.
		p, err := a.presenceTable()
		if err != nil {
			return nil, err
		}
		deps.Presence = p
		deps.Leases = a.leases // several jobs: one consumes, so a room's messages keep their order
		deps.Dial = func(addr string) (job.Comet, error) {
			opts, err := a.peerOpts()
			if err != nil {
				return nil, err
			}
			cc, err := grpcx.Dial(addr, opts...)
			if err != nil {
				return nil, err
			}
			return foundComet{comet.NewRemote(cc, addr), cc}, nil
		}
	}
	var err error
	a.Job, err = job.New(a.cfg.Job, deps)
	return a.Job, err
}

// foundComet is a comet the job found through presence, on a connection of its own that the
// job closes when the comet is gone.
type foundComet struct {
	*comet.Remote
	cc *grpc.ClientConn
}

func (c foundComet) Close() error { return c.cc.Close() }

func buildMedia(a *App) (lifecycle, error) {
	var err error
	if a.Media, err = media.New(a.cfg.Media, media.Deps{Logger: a.logger("media"), Registry: a.Reg,
		Rooms: a.rooms, Conns: a.total, DataDir: a.cfg.DataDir}); err != nil {
		return nil, err
	}
	if a.Room != nil {
		a.Room.OnKeyRotated(a.Media.KeyRotated) // at once; a remote room is polled (media.key_check_interval)
		a.Room.CountVideoViewers(a.Media.VideoViewers)
	}
	return a.Media, nil
}

// buildGateway mounts the routes of every local component and forwards those of the
// components gateway.upstreams names.
func buildGateway(a *App) (lifecycle, error) {
	deps := gateway.Deps{Logger: a.logger("gateway"), Registry: a.Reg, Gatherer: a.Reg, Ready: a.Ready,
		Web: web.Handler(a.cfg.Room.CoverHosts...), Conns: a.total}
	if a.accounts != nil {
		deps.Verifier = a.accounts
	}
	if a.redis != nil {
		deps.Shared = a.redis
	}
	deps.IsAdmin = a.isAdmin
	if a.signer != nil {
		deps.Identities = a.signer
	}
	if a.q != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if deps.Tables, err = table.OpenShared(ctx, a.q, a.logger("gateway")); err != nil {
			return nil, err
		}
	}
	for _, n := range a.names {
		c, _ := component(n)
		if c.routes != nil {
			deps.Routes = append(deps.Routes, c.routes(a)...)
			deps.OpenAPI = append(deps.OpenAPI, c.openAPI()...)
		}
		if c.streams != nil {
			deps.Streams = append(deps.Streams, c.streams()...)
		}
	}
	for _, c := range registry {
		if _, ok := a.cfg.Gateway.Upstreams[c.Name]; !ok {
			continue
		}
		u, err := a.cfg.Gateway.UpstreamURL(c.Name)
		if err != nil {
			return nil, err
		}
		deps.Upstreams = append(deps.Upstreams, gateway.Upstream{Name: c.Name, URL: u, OpenAPI: c.openAPI()})
		if c.streams != nil {
			deps.Streams = append(deps.Streams, c.streams()...)
		}
	}
	if a.Comet != nil {
		deps.Sub = a.Comet.Handler()
	}
	deps.Routes = append(deps.Routes, reloadRoutes{a}) // reload.go
	deps.OpenAPI = append(deps.OpenAPI, reloadOpenAPI)
	rpc, err := newRPCRoutes(a) // rpc.go
	if err != nil {
		return nil, err
	}
	if rpc != nil {
		deps.Routes = append(deps.Routes, rpc)
		deps.OpenAPI = append(deps.OpenAPI, rpcOpenAPI)
	}
	a.Gateway, err = gateway.New(a.cfg.Gateway, deps)
	if err != nil {
		return nil, err
	}
	if a.grpc == nil {
		return a.Gateway, nil
	}
	// The gRPC server starts with the gateway, once every local component is up, and stops
	// before them.
	return both{a.grpc, a.Gateway}, nil
}

// advertised is a listen address as another host reaches it: an unspecified host (":9100",
// "0.0.0.0:9100") becomes this host's name.
func advertised(listen, host string) string {
	h, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = host
	}
	return net.JoinHostPort(h, port)
}

// both starts two lifecycles in order and stops them in reverse.
type both [2]lifecycle

func (b both) Start(ctx context.Context) error {
	if err := b[0].Start(ctx); err != nil {
		return err
	}
	if err := b[1].Start(ctx); err != nil {
		return errors.Join(err, b[0].Stop(context.WithoutCancel(ctx)))
	}
	return nil
}

func (b both) Stop(ctx context.Context) error { return errors.Join(b[1].Stop(ctx), b[0].Stop(ctx)) }

// checkUpstreams refuses a gateway.upstreams entry that names no component with routes, or
// one that runs in this process.
func checkUpstreams(cfg config.Config, names []string) error {
	for n := range cfg.Gateway.Upstreams {
		c, ok := component(n)
		switch {
		case !ok || c.openAPI == nil:
			return fmt.Errorf("gateway.upstreams: %q is not a component with HTTP routes", n)
		case slices.Contains(names, n):
			return fmt.Errorf("gateway.upstreams: %s runs in this process; forward only components that run elsewhere", n)
		}
	}
	return nil
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

// signIdentity signs the caller a gateway of this process forwards (nil without the key).
func (a *App) signIdentity() func(uid int64) string {
	if a.signer == nil {
		return nil
	}
	return func(uid int64) string { return a.signer.SignIdentity(uid, time.Now()) }
}

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
