package logic

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/internal/push"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }

// APIDeps are what issuing connection tokens needs: the signing key, the rooms and the names
// of users (a token carries the viewer's name, so logic never looks it up).
type APIDeps struct {
	Logger *slog.Logger
	Signer *token.Signer
	// RoomExists answers nil for a room that exists (an apierr 404 kind otherwise).
	RoomExists func(ctx context.Context, id int64) error
	Accounts   account.Client
	// LocalHosts is the host list when Config.Hosts is empty: this node's own listeners,
	// named by the host the request came to.
	LocalHosts func(r *http.Request) []Host
	Pusher     push.Client // admin pushes (nil = the push routes answer 503)
	IsAdmin    func(uid int64) bool
	Now        func() time.Time
}

// API is logic's HTTP side: it issues connection tokens (danmu-info) and takes admin pushes.
// It runs in the process that has the rooms (the business side); logic verifies the tokens
// with the shared key, and pushes go through the queue like every other.
type API struct {
	cfg  Config
	deps APIDeps
	log  *slog.Logger
	now  func() time.Time
}

// NewAPI builds the token issuer.
func NewAPI(cfg Config, deps APIDeps) (*API, error) {
	if deps.Signer == nil || deps.RoomExists == nil || deps.Accounts == nil {
		return nil, errors.New("logic api: Signer, RoomExists and Accounts are required")
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return &API{cfg: cfg, deps: deps, log: deps.Logger, now: now}, nil
}

// IssueConnToken signs a token that lets uid (0 = guest) join roomID, with a fresh random
// session id: each token is one viewer's, admitting at most max_conns_per_token connections.
func (s *API) IssueConnToken(ctx context.Context, uid, roomID int64) (string, error) {
	if err := s.deps.RoomExists(ctx, roomID); err != nil {
		return "", err
	}
	return s.connToken(ctx, uid, roomID)
}

// connToken signs the token of IssueConnToken without checking the room.
func (s *API) connToken(ctx context.Context, uid, roomID int64) (string, error) {
	c := token.Claims{UID: uid, RoomID: roomID, Exp: s.now().Add(s.cfg.ConnTokenTTL).Unix(), SID: token.NewSID()}
	if uid > 0 {
		names, err := s.deps.Accounts.Names(ctx, []int64{uid})
		if err != nil {
			return "", err
		}
		c.Name = names[uid]
	}
	return s.deps.Signer.Sign(connKind, c), nil
}

// Register mounts the danmu-info routes (zhibo's own and the Bilibili-compatible one).
func (s *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/rooms/{id}/danmu-info", httpx.Handle(s.log, s.handleDanmuInfo))
	mux.Handle("GET /xlive/web-room/v1/index/getDanmuInfo", http.HandlerFunc(s.handleBiliDanmuInfo))
	mux.Handle("GET /api/channel", httpx.Handle(s.log, s.handleChannel))
	mux.Handle("POST /api/push/rooms/{id}", httpx.Handle(s.log, s.handlePushRoom))
	mux.Handle("POST /api/push/users", httpx.Handle(s.log, s.handlePushUsers))
	mux.Handle("POST /api/push/all", httpx.Handle(s.log, s.handlePushAll))
}

// DanmuInfo is what a client needs to open a long connection to a room.
type DanmuInfo struct {
	Token    string `json:"token"`
	HostList []Host `json:"host_list"`
}

func (s *API) danmuInfo(r *http.Request, roomID int64) (DanmuInfo, error) {
	if err := s.deps.RoomExists(r.Context(), roomID); err != nil {
		return DanmuInfo{}, err
	}
	return s.DanmuInfoFor(r, roomID)
}

// DanmuInfoFor is the danmu-info of a room the caller has already read (the room page's
// BFF): a token for the request's user and the host list, without reading the room again.
func (s *API) DanmuInfoFor(r *http.Request, roomID int64) (DanmuInfo, error) {
	uid, _ := httpx.UID(r.Context())
	tok, err := s.connToken(r.Context(), uid, roomID)
	if err != nil {
		return DanmuInfo{}, err
	}
	hosts := s.cfg.Hosts
	if len(hosts) == 0 && s.deps.LocalHosts != nil {
		hosts = s.deps.LocalHosts(r)
	}
	if hosts == nil {
		hosts = []Host{}
	}
	return DanmuInfo{Token: tok, HostList: hosts}, nil
}

// handleChannel gives a signed-in user what opens their own channel: a connection joined to
// room 0 with this token receives what is pushed to the user (private messages, notices)
// without a room's traffic.
func (s *API) handleChannel(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireUID(r); err != nil {
		return err
	}
	info, err := s.DanmuInfoFor(r, 0)
	if err != nil {
		return err
	}
	return httpx.OK(w, info)
}

func (s *API) handleDanmuInfo(w http.ResponseWriter, r *http.Request) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	info, err := s.danmuInfo(r, id)
	if err != nil {
		return err
	}
	return httpx.OK(w, info)
}

// handleBiliDanmuInfo answers in Bilibili's own shape, so clients that bootstrap from
// getDanmuInfo work unmodified.
func (s *API) handleBiliDanmuInfo(w http.ResponseWriter, r *http.Request) {
	type data struct {
		Group            string  `json:"group"`
		BusinessID       int     `json:"business_id"`
		RefreshRowFactor float64 `json:"refresh_row_factor"`
		RefreshRate      int     `json:"refresh_rate"`
		MaxDelay         int     `json:"max_delay"`
		Token            string  `json:"token"`
		HostList         []Host  `json:"host_list"`
	}
	type env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		TTL     int    `json:"ttl"`
		Data    *data  `json:"data"`
	}
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	var info DanmuInfo
	if err != nil || id <= 0 {
		err = apierr.BadRequest.Withf("query parameter id must be a positive room id")
	} else {
		info, err = s.danmuInfo(r, id)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err != nil {
		e := apierr.From(err)
		if e.Status >= 500 {
			s.log.ErrorContext(r.Context(), "getDanmuInfo failed", "err", err)
		}
		w.WriteHeader(e.Status)
		_ = jsonEncode(w, env{Code: e.Code, Message: e.Message, TTL: 1})
		return
	}
	_ = jsonEncode(w, env{Code: 0, Message: "0", TTL: 1, Data: &data{
		Group: "live", RefreshRowFactor: 0.125, RefreshRate: 100, MaxDelay: 5000,
		Token: info.Token, HostList: info.HostList,
	}})
}

func jsonEncode(w http.ResponseWriter, v any) error { return json.NewEncoder(w).Encode(v) }
