package gift

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// FuzzSendBody throws arbitrary bodies at POST /api/rooms/{id}/gifts. Whatever the body, the
// answer is a client error or an order, never a server error, and money is conserved: the
// balance plus everything spent is the initial balance.
func FuzzSendBody(f *testing.F) {
	for _, seed := range []string{
		`{"gift_id":3,"num":1,"idempotency_key":"k"}`,
		`{"gift_id":3,"num":2,"idempotency_key":"k"}`,
		`{"gift_id":6,"num":9999,"idempotency_key":"big"}`,
		`{"gift_id":1,"num":1e3,"idempotency_key":"exp"}`,
		`{"gift_id":3,"num":-1,"idempotency_key":"k"}`,
		`{"gift_id":3,"num":1,"idempotency_key":"ключ"}`,
		`{"gift_id":3,"num":1,"idempotency_key":""}`,
		`{"gift_id":null,"num":null,"idempotency_key":null}`,
		`{"gift_id":3,"num":1,"idempotency_key":"k"} {}`,
		`[]`, `null`, `"x"`, `{`, ``, "\x00",
	} {
		f.Add(seed)
	}
	const initial = int64(1) << 40
	e := newEnv(f, sqltest.OpenSQLite(f), func(c *Config) { c.InitialBalance = initial })
	f.Fuzz(func(t *testing.T, body string) {
		status, env := e.call(t, "POST", "/api/rooms/100/gifts", aliceUID, body)
		switch status {
		case http.StatusOK:
			require.Zero(t, env.Code)
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			require.NotZero(t, env.Code)
		default:
			t.Fatalf("status %d for %q: %+v", status, body, env)
		}
		spent := e.count(t, "SELECT COALESCE(SUM(total), 0) FROM gift_orders WHERE uid = ?", aliceUID)
		require.Equal(t, initial, e.balance(t, aliceUID)+spent)
	})
}
