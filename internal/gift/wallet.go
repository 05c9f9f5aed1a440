package gift

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

// Limits of the wallet credit log.
const (
	maxReasonLen     = 200 // characters; the column is VARCHAR(200)
	defaultCreditLog = 50  // rows of one audit log page unless ?limit= says otherwise
	maxCreditLog     = 1000
)

// Credit is coins entering a wallet — an admin top-up or a payment — and its row of the audit
// log: who (ActorUID, 0 for the system, e.g. a payment webhook) credited whom (UID), how much,
// why, under which idempotency key, and when.
type Credit struct {
	ID        int64  `json:"id"`
	UID       int64  `json:"uid"`
	Amount    int64  `json:"amount"`
	Balance   int64  `json:"balance"` // UID's balance right after this credit
	ActorUID  int64  `json:"actor_uid"`
	Reason    string `json:"reason"`
	Key       string `json:"idempotency_key"`
	CreatedAt int64  `json:"created_at"` // unix ms
}

// sameRequest reports whether c and d ask for the same credit, the test a retry with the same
// idempotency key must pass.
func (c Credit) sameRequest(d Credit) bool {
	return c.UID == d.UID && c.Amount == d.Amount && c.Reason == d.Reason
}

// CreditRequest asks for Amount coins to enter UID's wallet.
type CreditRequest struct {
	UID      int64
	Amount   int64
	ActorUID int64 // who asks: an admin's uid, 0 for the system (a payment provider's webhook)
	Reason   string
	// Key is unique per intended credit across every source: a retry with the same key returns
	// the first credit and never credits again. A payment webhook uses the provider's payment
	// id, prefixed with the provider's name ("stripe:pi_…").
	Key string
}

// CreditPage is one page of the audit log, newest first. NextCursor, passed back as ?cursor=,
// reads the following page; it is empty on the last one.
type CreditPage struct {
	Credits    []Credit `json:"credits"`
	NextCursor string   `json:"next_cursor"`
}

// Credit adds coins to a registered user's wallet and records who did it in the audit log, in
// one transaction; a retry with the same key credits nothing more. It is the one path by which
// coins enter wallets after their creation: the admin top-up route calls it, and so would a
// payment provider's webhook once it has verified the provider's signature.
func (s *Service) Credit(ctx context.Context, req CreditRequest) (Credit, error) {
	if req.UID <= 0 {
		return Credit{}, ErrBadUID
	}
	if maxTopup := s.live.Load().maxTopup; req.Amount < 1 || req.Amount > maxTopup {
		s.m.credits.WithLabelValues(resultRejected).Inc()
		return Credit{}, ErrBadAmount.Withf("amount must be an integer in [1, %d]", maxTopup)
	}
	reason, ok := cleanReason(req.Reason)
	if !ok {
		s.m.credits.WithLabelValues(resultRejected).Inc()
		return Credit{}, ErrBadReason
	}
	if !httpx.ValidIdempotencyKey(req.Key) {
		s.m.credits.WithLabelValues(resultRejected).Inc()
		return Credit{}, ErrBadKey
	}
	if _, err := s.accounts.User(ctx, req.UID); err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			s.m.credits.WithLabelValues(resultRejected).Inc()
		}
		return Credit{}, fmt.Errorf("credit uid %d: %w", req.UID, err)
	}
	id, err := s.ids.Next()
	if err != nil {
		return Credit{}, fmt.Errorf("credit id: %w", err)
	}
	stored, replayed, err := s.store.Credit(ctx, Credit{ID: id, UID: req.UID, Amount: req.Amount,
		ActorUID: req.ActorUID, Reason: reason, Key: req.Key, CreatedAt: time.Now().UnixMilli()})
	switch {
	case errors.Is(err, ErrKeyReused):
		s.m.credits.WithLabelValues(resultKeyReused).Inc()
		return Credit{}, err
	case errors.Is(err, ErrBalanceLimit):
		s.m.credits.WithLabelValues(resultRejected).Inc()
		return Credit{}, err
	case err != nil:
		return Credit{}, apierr.From(fmt.Errorf("credit wallet: %w", err))
	case replayed:
		s.m.credits.WithLabelValues(resultReplayed).Inc()
		return stored, nil
	}
	s.m.credits.WithLabelValues(resultCreated).Inc()
	s.m.credited.Add(float64(stored.Amount))
	s.log.InfoContext(ctx, "wallet credited", "credit_id", stored.ID, "uid", stored.UID, "amount", stored.Amount,
		"balance", stored.Balance, "actor_uid", stored.ActorUID, "reason", stored.Reason, "idempotency_key", stored.Key)
	return stored, nil
}

// Credits returns one page of the audit log, newest first: credits with ids below before
// (0 = from the newest), of uid only when uid > 0.
func (s *Service) Credits(ctx context.Context, uid, before int64, limit int) (CreditPage, error) {
	if uid < 0 || before < 0 || limit < 1 || limit > maxCreditLog {
		return CreditPage{}, apierr.BadRequest.Withf("want uid >= 0, before >= 0, limit in [1, %d]", maxCreditLog)
	}
	cs, err := s.store.Credits(ctx, uid, before, limit+1)
	if err != nil {
		return CreditPage{}, apierr.From(err)
	}
	p := CreditPage{Credits: cs}
	if len(cs) > limit {
		p.Credits = cs[:limit]
		p.NextCursor = strconv.FormatInt(cs[limit-1].ID, 10)
	}
	return p, nil
}

// cleanReason applies the text policy to a credit's reason and checks it is 1..maxReasonLen
// characters with no control characters.
func cleanReason(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = strings.TrimSpace(textnorm.Clean(s))
	if s == "" || utf8.RuneCountInString(s) > maxReasonLen {
		return "", false
	}
	return s, strings.IndexFunc(s, unicode.IsControl) < 0
}
