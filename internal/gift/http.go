package gift

import (
	_ "embed"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Register adds the gift routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/gifts", httpx.Handle(s.log, s.handleCatalog))
	mux.Handle("GET /api/wallet", httpx.Handle(s.log, s.handleWallet))
	mux.Handle("POST /api/rooms/{id}/gifts", httpx.Handle(s.log, s.handleSend))
	mux.Handle("GET /api/rooms/{id}/rank", httpx.Handle(s.log, s.handleRank))
	mux.Handle("POST /api/admin/wallets/{uid}/topup", httpx.Handle(s.log, s.handleTopup))
	mux.Handle("GET /api/admin/wallets/credits", httpx.Handle(s.log, s.handleCredits))
}

func (s *Service) handleCatalog(w http.ResponseWriter, _ *http.Request) error {
	return httpx.OK(w, map[string]any{"gifts": s.live.Load().catalog.list})
}

func (s *Service) handleWallet(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	b, err := s.Balance(r.Context(), uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"uid": uid, "balance": b})
}

// sendBody is the body of POST /api/rooms/{id}/gifts.
type sendBody struct {
	GiftID int64  `json:"gift_id"`
	Num    int64  `json:"num"`
	Key    string `json:"idempotency_key"`
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) error {
	uid, roomID, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	var body sendBody
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	o, err := s.Send(r.Context(), SendRequest{RoomID: roomID, UID: uid, GiftID: body.GiftID, Num: body.Num, Key: body.Key})
	if err != nil {
		return err
	}
	return httpx.OK(w, o)
}

func (s *Service) handleRank(w http.ResponseWriter, r *http.Request) error {
	roomID, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", s.cfg.RankSize, 1, s.cfg.RankSize)
	if err != nil {
		return err
	}
	rank, err := s.Rank(r.Context(), roomID, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, rank)
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI 3.1 fragment describing the gift routes, merged by the gateway.
func OpenAPI() []byte { return openAPI }
