package gift

import (
	"net/http"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// topupBody is the body of POST /api/admin/wallets/{uid}/topup.
type topupBody struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
	Key    string `json:"idempotency_key"`
}

func (s *Service) handleTopup(w http.ResponseWriter, r *http.Request) error {
	admin, err := httpx.RequireAdmin(r, s.isAdmin)
	if err != nil {
		return err
	}
	uid, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	var body topupBody
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	c, err := s.Credit(r.Context(), CreditRequest{UID: uid, Amount: body.Amount, ActorUID: admin,
		Reason: body.Reason, Key: body.Key})
	if err != nil {
		return err
	}
	return httpx.OK(w, c)
}

func (s *Service) handleCredits(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.isAdmin); err != nil {
		return err
	}
	uid, err := queryID(r, "uid")
	if err != nil {
		return err
	}
	before, err := queryID(r, "cursor") // the keyset: the id of the last credit seen
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", defaultCreditLog, 1, maxCreditLog)
	if err != nil {
		return err
	}
	p, err := s.Credits(r.Context(), uid, before, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, p)
}

// queryID reads an optional positive id from the query (0 when absent).
func queryID(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, apierr.BadRequest.Withf("query parameter %s must be a positive integer", name)
	}
	return n, nil
}
