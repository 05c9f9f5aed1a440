package gift

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// topup posts an admin top-up as uid and returns the status and the envelope.
func (e *env) topup(t testing.TB, uid, target, amount int64, reason, key string) (int, envelope) {
	return e.call(t, "POST", fmt.Sprintf("/api/admin/wallets/%d/topup", target), uid,
		map[string]any{"amount": amount, "reason": reason, "idempotency_key": key})
}

// credited posts a top-up and requires success.
func (e *env) credited(t testing.TB, target, amount int64, reason, key string) Credit {
	status, env := e.topup(t, opUID, target, amount, reason, key)
	require.Equal(t, http.StatusOK, status, "%+v", env)
	var c Credit
	require.NoError(t, json.Unmarshal(env.Data, &c))
	return c
}

// credits reads one page of the audit log as the operator.
func (e *env) credits(t testing.TB, query string) CreditPage {
	status, env := e.call(t, "GET", "/api/admin/wallets/credits"+query, opUID, nil)
	require.Equal(t, http.StatusOK, status, "%+v", env)
	var p CreditPage
	require.NoError(t, json.Unmarshal(env.Data, &p))
	return p
}

// defaultConfig is the config with nothing but the defaults.
func defaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("d", flag.ContinueOnError), "gift.")
	return c
}

// Wallets start empty: coins come only from a credit (an admin top-up, a payment).
func TestWalletsStartEmptyByDefault(t *testing.T) {
	e := newEnv(t, sqltest.OpenSQLite(t), func(c *Config) { c.InitialBalance = defaultConfig().InitialBalance })
	require.Zero(t, e.balance(t, aliceUID))
	status, env := e.call(t, "POST", "/api/rooms/100/gifts", aliceUID, map[string]any{"gift_id": 3, "num": 1, "idempotency_key": "k"})
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, ErrInsufficient.Code, env.Code)
}

func TestAdminTopupCreditsOnceAndAudits(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, func(c *Config) { c.InitialBalance = 0; c.MaxTopup = 10_000 })
		before := e.count(t, "SELECT COUNT(*) FROM gift_wallet_credits")
		require.Zero(t, before)

		c := e.credited(t, aliceUID, 500, "launch promo", "promo-1")
		require.Equal(t, Credit{ID: c.ID, UID: aliceUID, Amount: 500, Balance: 500, ActorUID: opUID,
			Reason: "launch promo", Key: "promo-1", CreatedAt: c.CreatedAt}, c)
		require.NotZero(t, c.ID)
		require.Positive(t, c.CreatedAt)
		require.Equal(t, int64(500), e.balance(t, aliceUID))

		// A retry with the key returns the first credit and credits nothing.
		again := e.credited(t, aliceUID, 500, "launch promo", "promo-1")
		require.Equal(t, c, again)
		require.Equal(t, int64(500), e.balance(t, aliceUID))
		// The key with another request is refused and writes nothing.
		for _, body := range []struct {
			uid, amount int64
			reason      string
		}{{aliceUID, 600, "launch promo"}, {bobUID, 500, "launch promo"}, {aliceUID, 500, "other"}} {
			status, env := e.topup(t, opUID, body.uid, body.amount, body.reason, "promo-1")
			require.Equal(t, http.StatusConflict, status, "%+v", body)
			require.Equal(t, ErrKeyReused.Code, env.Code)
		}
		require.Equal(t, int64(500), e.balance(t, aliceUID))
		require.Zero(t, e.balance(t, bobUID))
		require.Equal(t, int64(1), e.count(t, "SELECT COUNT(*) FROM gift_wallet_credits"))

		// The credit is spendable.
		o := e.send(t, aliceUID, roomMain, 3, 2, "spend-1")
		require.Equal(t, int64(480), o.Balance)
		c2 := e.credited(t, aliceUID, 20, "refund", "refund-1")
		require.Equal(t, int64(500), c2.Balance)

		// The audit log: newest first, who credited whom, how much, why, with which key.
		p := e.credits(t, "")
		require.Equal(t, []Credit{c2, c}, p.Credits)
		require.Empty(t, p.NextCursor)

		require.Equal(t, 2.0, testutil.ToFloat64(e.svc.m.credits.WithLabelValues(resultCreated)))
		require.Equal(t, 1.0, testutil.ToFloat64(e.svc.m.credits.WithLabelValues(resultReplayed)))
		require.Equal(t, 3.0, testutil.ToFloat64(e.svc.m.credits.WithLabelValues(resultKeyReused)))
		require.Equal(t, 520.0, testutil.ToFloat64(e.svc.m.credited))
	})
}

func TestAdminTopupRefusals(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, func(c *Config) { c.InitialBalance = 0; c.MaxTopup = 10_000 })
		cases := []struct {
			name   string
			uid    int64
			path   string
			body   any
			status int
			code   int
		}{
			{"anonymous", 0, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "k"}, 401, -401},
			{"not an admin", aliceUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "k"}, 403, -403},
			{"own wallet, not an admin", bobUID, "/api/admin/wallets/3/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "k"}, 403, -403},
			{"zero", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 0, "reason": "r", "idempotency_key": "k"}, 400, ErrBadAmount.Code},
			{"negative", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": -5, "reason": "r", "idempotency_key": "k"}, 400, ErrBadAmount.Code},
			{"over the bound", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 10_001, "reason": "r", "idempotency_key": "k"}, 400, ErrBadAmount.Code},
			{"no reason", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": "  ", "idempotency_key": "k"}, 400, ErrBadReason.Code},
			{"long reason", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": strings.Repeat("x", maxReasonLen+1), "idempotency_key": "k"}, 400, ErrBadReason.Code},
			{"no key", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": "r"}, 400, ErrBadKey.Code},
			{"bad key", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "a b"}, 400, ErrBadKey.Code},
			{"unknown user", opUID, "/api/admin/wallets/12345/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "k"}, 404, account.ErrUserNotFound.Code},
			{"bad uid", opUID, "/api/admin/wallets/x/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "k"}, 400, -400},
			{"unknown field", opUID, "/api/admin/wallets/2/topup", map[string]any{"amount": 5, "reason": "r", "idempotency_key": "k", "uid": 9}, 400, -400},
			{"log, not an admin", aliceUID, "/api/admin/wallets/credits", nil, 403, -403},
		}
		for _, c := range cases {
			method := "POST"
			if c.body == nil {
				method = "GET"
			}
			status, env := e.call(t, method, c.path, c.uid, c.body)
			require.Equal(t, c.status, status, "%s: %+v", c.name, env)
			require.Equal(t, c.code, env.Code, "%s: %+v", c.name, env)
		}
		require.Zero(t, e.count(t, "SELECT COUNT(*) FROM gift_wallet_credits"))
		require.Zero(t, e.balance(t, aliceUID))
		// Refused by the credit path itself (not by auth or decoding): bounds, reason, key, user.
		require.Equal(t, 8.0, testutil.ToFloat64(e.svc.m.credits.WithLabelValues(resultRejected)))
	})
}

// A wallet never passes the largest balance: the credit that would is refused whole.
func TestTopupBalanceLimit(t *testing.T) {
	e := newEnv(t, sqltest.OpenSQLite(t), func(c *Config) { c.InitialBalance = MaxBalance - 10; c.MaxTopup = 100 })
	e.credited(t, aliceUID, 10, "to the limit", "k1")
	status, env := e.topup(t, opUID, aliceUID, 1, "past it", "k2")
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, ErrBalanceLimit.Code, env.Code)
	require.Equal(t, MaxBalance, e.balance(t, aliceUID))
}

// Concurrent retries of one top-up credit once; concurrent distinct top-ups all land, and the
// audit log sums to the balance.
func TestConcurrentTopups(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, func(c *Config) { c.InitialBalance = 0 })
		const n = 16
		same := make([]Credit, n)
		errs := make([]error, 2*n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				same[i], errs[i] = e.svc.Credit(context.Background(), CreditRequest{
					UID: aliceUID, Amount: 7, ActorUID: opUID, Reason: "retry storm", Key: "same"})
			})
			wg.Go(func() {
				_, errs[n+i] = e.svc.Credit(context.Background(), CreditRequest{
					UID: bobUID, Amount: int64(i + 1), ActorUID: opUID, Reason: "many", Key: fmt.Sprintf("k%d", i)})
			})
		}
		wg.Wait()
		for i := range errs {
			require.NoError(t, errs[i])
		}
		for i := range n {
			require.Equal(t, same[0], same[i])
		}
		require.Equal(t, int64(7), e.balance(t, aliceUID))
		require.Equal(t, int64(n*(n+1)/2), e.balance(t, bobUID))
		require.Equal(t, int64(n*(n+1)/2), e.count(t, "SELECT SUM(amount) FROM gift_wallet_credits WHERE uid = ?", bobUID))
		require.Equal(t, int64(1+n), e.count(t, "SELECT COUNT(*) FROM gift_wallet_credits"))
	})
}

// The audit log pages by keyset (newest first, ?cursor=<next_cursor of the last page>), optionally
// for one user, and its pages neither skip nor repeat rows while credits keep arriving.
func TestCreditLogPages(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, func(c *Config) { c.InitialBalance = 0 })
		var all []Credit
		for i := range 7 {
			uid := aliceUID
			if i%2 == 1 {
				uid = bobUID
			}
			all = append(all, e.credited(t, uid, int64(i+1), "seed", fmt.Sprintf("seed-%d", i)))
		}
		var got []Credit
		q := "?limit=3"
		for {
			p := e.credits(t, q)
			require.LessOrEqual(t, len(p.Credits), 3)
			got = append(got, p.Credits...)
			if p.NextCursor == "" {
				break
			}
			// A credit arriving between pages lands before the cursor and is not in later pages.
			e.credited(t, carolUID, 1, "meanwhile", fmt.Sprintf("late-%d", len(got)))
			q = "?limit=3&cursor=" + p.NextCursor
		}
		require.Len(t, got, len(all))
		for i := range all {
			require.Equal(t, all[len(all)-1-i], got[i])
		}
		bob := e.credits(t, fmt.Sprintf("?uid=%d", bobUID))
		require.Len(t, bob.Credits, 3)
		for _, c := range bob.Credits {
			require.Equal(t, bobUID, c.UID)
		}
		for _, q := range []string{"?limit=0", "?limit=1001", "?cursor=-1", "?cursor=x", "?uid=0", "?uid=x"} {
			status, env := e.call(t, "GET", "/api/admin/wallets/credits"+q, opUID, nil)
			require.Equal(t, http.StatusBadRequest, status, "%s %+v", q, env)
		}
	})
}
