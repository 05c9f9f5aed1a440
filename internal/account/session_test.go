package account

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

func TestLookalikeNamesAreTaken(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := startHTTP(t, db, testConfig(t))
		e.register("operator1", "password1")
		for _, name := range []string{
			"\u043eperator1",  // Cyrillic о
			"OPERATOR1",       // case
			"operator\u200b1", // zero-width space
			"ｏｐｅｒａｔｏｒ１",       // full width
			"\u202eoperator1", // bidi override
		} {
			r := e.do("POST", "/api/auth/register", "", creds(name, "password1"))
			require.Equal(t, 409, r.status, "%q: %v", name, r.env)
		}
		// Names are stored cleaned: invisible characters never reach other users.
		tok := e.register("new\u200bcomer", "password1")
		me := e.do("GET", "/api/me", tok, "")
		require.Equal(t, "newcomer", me.data()["name"])
		// Login accepts the cleaned form of the name.
		require.Equal(t, 200, e.login("oper\u200bator1", "password1").status)
		require.Equal(t, 200, e.login("ｏｐｅｒａｔｏｒ１", "password1").status)
		require.Equal(t, 200, e.login("newcomer", "password1").status)
	})
}

// TestSkeletonMigration: users registered before skeletons existed get one at start; when two
// of them look alike both keep their accounts, and new look-alikes of either are refused.
func TestSkeletonMigration(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "account", migrations[:2]))
		signer, err := token.NewSigner([]byte("test-key-0123456789"))
		require.NoError(t, err)
		old := &Service{cfg: testConfig(t)}
		hash, err := old.hash("password1")
		require.NoError(t, err)
		for _, name := range []string{"operator1", "\u043eperator1", "plain"} {
			_, err := db.ExecContext(ctx, "INSERT INTO users (name, name_key, password_hash, created_at) VALUES (?, ?, ?, 1)",
				name, nameKey(name), hash)
			require.NoError(t, err)
		}
		e := startHTTPWith(t, db, testConfig(t), signer, &clock{t: time.Now()}, obs.Discard())
		for _, name := range []string{"operator1", "\u043eperator1", "plain"} {
			r := e.login(name, "password1")
			require.Equal(t, 200, r.status, name)
			require.Equal(t, name, r.data()["name"])
		}
		for _, name := range []string{"\u043eperat\u043er1", "0perator1x", "PLAIN", "pl\u0430in"} {
			r := e.do("POST", "/api/auth/register", "", creds(name, "password1"))
			if name == "0perator1x" {
				require.Equal(t, 200, r.status, name)
				continue
			}
			require.Equal(t, 409, r.status, "%q", name)
		}
		// Starting again (another replica, a restart) changes nothing.
		e2 := startHTTPWith(t, db, testConfig(t), signer, &clock{t: time.Now()}, obs.Discard())
		require.Equal(t, 200, e2.login("\u043eperator1", "password1").status)
	})
}

func TestLogoutRevokesOneSession(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := startHTTP(t, db, testConfig(t))
		a := e.register("viewer", "password1")
		r := e.login("viewer", "password1")
		require.Equal(t, 200, r.status)
		b := r.data()["token"].(string)
		require.NotEqual(t, a, b)

		require.Equal(t, 200, e.do("POST", "/api/auth/logout", a, "").status)
		r = e.do("GET", "/api/me", a, "")
		require.Equal(t, 401, r.status)
		require.Equal(t, float64(ErrTokenRevoked.Code), r.env["code"])
		require.Equal(t, 200, e.do("GET", "/api/me", b, "").status, "the other session still works")
		require.Equal(t, 401, e.do("POST", "/api/auth/logout", "", "").status)
	})
}

func TestLogoutAllAndPasswordChange(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := startHTTP(t, db, testConfig(t))
		a := e.register("streamer", "password1")
		b := e.login("streamer", "password1").data()["token"].(string)
		other := e.register("someone", "password1")

		require.Equal(t, 200, e.do("POST", "/api/auth/logout-all", b, "").status)
		require.Equal(t, 401, e.do("GET", "/api/me", a, "").status)
		require.Equal(t, 401, e.do("GET", "/api/me", b, "").status)
		require.Equal(t, 200, e.do("GET", "/api/me", other, "").status, "other users are not affected")

		c := e.login("streamer", "password1").data()["token"].(string)
		d := e.login("streamer", "password1").data()["token"].(string)
		require.Equal(t, 200, e.do("GET", "/api/me", c, "").status, "sessions after logout-all work")
		r := e.do("POST", "/api/auth/password", c, `{"old_password":"not-it","new_password":"password2"}`)
		require.Equal(t, 403, r.status, "a wrong current password does not end the session")
		r = e.do("POST", "/api/auth/password", c, `{"old_password":"password1","new_password":"x"}`)
		require.Equal(t, 400, r.status)
		r = e.do("POST", "/api/auth/password", c, `{"old_password":"password1","new_password":"password2"}`)
		require.Equal(t, 200, r.status, r.env)
		fresh := r.data()["token"].(string)
		require.Equal(t, 401, e.do("GET", "/api/me", c, "").status)
		require.Equal(t, 401, e.do("GET", "/api/me", d, "").status)
		require.Equal(t, 200, e.do("GET", "/api/me", fresh, "").status)
		require.Equal(t, 401, e.login("streamer", "password1").status)
		require.Equal(t, 200, e.login("streamer", "password2").status)
		require.Equal(t, 401, e.do("POST", "/api/auth/password", "", `{"old_password":"password2","new_password":"password3"}`).status)
	})
}

// TestRevocationReachesOtherReplicas: a replica that cached a user's sessions sees another
// replica's logout within revocation_ttl; the replica that revoked sees it at once.
func TestRevocationReachesOtherReplicas(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		signer, err := token.NewSigner([]byte("test-key-0123456789"))
		require.NoError(t, err)
		clk := &clock{t: time.Now()}
		cfg := testConfig(t, "-revocation_ttl", "10s")
		r1 := startHTTPWith(t, db, cfg, signer, clk, obs.Discard())
		r2 := startHTTPWith(t, db, cfg, signer, clk, obs.Discard())
		a := r1.register("roamer", "password1")
		b := r1.login("roamer", "password1").data()["token"].(string)
		require.Equal(t, 200, r2.do("GET", "/api/me", a, "").status) // r2 caches roamer
		require.Equal(t, 200, r1.do("POST", "/api/auth/logout", a, "").status)
		require.Equal(t, 401, r1.do("GET", "/api/me", a, "").status)
		require.Equal(t, 200, r2.do("GET", "/api/me", a, "").status, "stale for at most revocation_ttl")
		clk.t = clk.t.Add(10 * time.Second)
		require.Equal(t, 401, r2.do("GET", "/api/me", a, "").status)
		require.Equal(t, 200, r2.do("GET", "/api/me", b, "").status)

		// A token newer than the cached version proves the cache stale: r2 reloads at once.
		require.Equal(t, 200, r1.do("POST", "/api/auth/logout-all", b, "").status)
		c := r1.login("roamer", "password1").data()["token"].(string)
		require.Equal(t, 200, r2.do("GET", "/api/me", c, "").status)
		require.Equal(t, 401, r2.do("GET", "/api/me", b, "").status)
	})
}

// TestRevocationBroadcast: with a queue, a logout, a logout everywhere and a password change
// made through one replica reach another replica's cache at once, so it keeps a user's
// sessions for revocation_ttl_watched instead of revocation_ttl — and falls back to the short
// TTL when its watch stops.
func TestRevocationBroadcast(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		signer, err := token.NewSigner([]byte("test-key-0123456789"))
		require.NoError(t, err)
		clk := &clock{t: time.Now()}
		cfg := testConfig(t, "-revocation_ttl", "10s", "-revocation_ttl_watched", "1h")
		q := openQueue(t)
		r1 := startHTTPQueue(t, db, cfg, signer, clk, obs.Discard(), q)
		r2 := startHTTPQueue(t, db, cfg, signer, clk, obs.Discard(), q)
		a := r1.register("caster", "password1")
		b := r1.login("caster", "password1").data()["token"].(string)
		require.Equal(t, 200, r2.do("GET", "/api/me", a, "").status) // r2 caches caster

		// Past revocation_ttl, r2 still answers from memory: the broadcast keeps it current.
		clk.t = clk.t.Add(30 * time.Second)
		require.True(t, r2.s.VerifiesAtOnce(a), "cached for revocation_ttl_watched")

		require.Equal(t, 200, r1.do("POST", "/api/auth/logout", a, "").status)
		require.Eventually(t, func() bool { return r2.do("GET", "/api/me", a, "").status == 401 },
			5*time.Second, 5*time.Millisecond, "r2 refuses the logged-out token without waiting for any TTL")
		require.Equal(t, 200, r2.do("GET", "/api/me", b, "").status)

		require.Equal(t, 200, r1.do("POST", "/api/auth/logout-all", b, "").status)
		require.Eventually(t, func() bool { return r2.do("GET", "/api/me", b, "").status == 401 },
			5*time.Second, 5*time.Millisecond, "logout everywhere")

		c := r1.login("caster", "password1").data()["token"].(string)
		require.Equal(t, 200, r2.do("GET", "/api/me", c, "").status)
		require.Equal(t, 200, r1.do("POST", "/api/auth/password", c, `{"old_password":"password1","new_password":"password2"}`).status)
		require.Eventually(t, func() bool { return r2.do("GET", "/api/me", c, "").status == 401 },
			5*time.Second, 5*time.Millisecond, "a password change")
		require.Equal(t, 3.0, testutil.ToFloat64(r1.s.m.broadcasts.WithLabelValues("ok")))
		require.Eventually(t, func() bool { return testutil.ToFloat64(r2.s.m.revocationsSeen) == 3 }, 5*time.Second, 5*time.Millisecond)

		// Without its watch, r2 reads a user's sessions every revocation_ttl again.
		d := r1.login("caster", "password2").data()["token"].(string)
		require.Equal(t, 200, r2.do("GET", "/api/me", d, "").status)
		r2.s.revs.stop()
		require.Eventually(t, func() bool { return r2.s.sessions.ttl.Load() == int64(10*time.Second) }, 5*time.Second, 5*time.Millisecond)
		clk.t = clk.t.Add(30 * time.Second)
		require.False(t, r2.s.VerifiesAtOnce(d), "stale after revocation_ttl")
	})
}

// TestRevocationStoreDown: while revocations cannot be read, a user's last known revocations
// still apply and other signed tokens are accepted (and counted) rather than locking everyone out.
func TestRevocationStoreDown(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	e := startHTTP(t, db, testConfig(t, "-revocation_ttl", "10s"))
	a := e.register("known", "password1")
	b := e.register("other", "password1")
	require.Equal(t, 200, e.do("POST", "/api/auth/logout", a, "").status)
	require.Equal(t, 401, e.do("GET", "/api/me", a, "").status) // cached as revoked
	require.NoError(t, db.Close())
	e.clk.t = e.clk.t.Add(time.Minute)
	_, err := e.s.Verify(context.Background(), a)
	require.ErrorIs(t, err, ErrTokenRevoked, "the stale entry still applies")
	uid, err := e.s.Verify(context.Background(), b)
	require.NoError(t, err)
	require.Positive(t, uid)
	require.Equal(t, 2.0, testutil.ToFloat64(e.s.m.revocationErrs))
}
