package account

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// A process with account in another process caches which user each token is: for
// peers.cache_ttl (a second here), or, while it watches the logouts broadcast, for
// account.revocation_ttl_watched (an hour here) but never past the token's expiry. Watching,
// it forgets a user's tokens as soon as one of the account processes revokes them, and
// verifies them again: refused. Tokens of other users stay cached, and so does the user's next
// login. Without the watch the logged-out token is still taken from the cache; once the watch
// stops, what was kept for the longer TTL is dropped.
func TestRemoteDropsRevokedTokens(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	cfg := testConfig(t, "-token_ttl", "2m")
	q := openQueue(t)
	clk := &clock{t: time.Now()}
	acc := startHTTPQueue(t, db, cfg, signer, clk, obs.Discard(), q)
	srv := grpcx.NewServer("127.0.0.1:0", obs.Discard())
	RegisterGRPC(srv, acc.s)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	remote := func() *Remote {
		cc, err := grpcx.Dial(srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = cc.Close() })
		r := NewRemote(cc, time.Second)
		r.now = clk.now
		return r
	}
	watched, unwatched := remote(), remote()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen int
	ended, err := watched.WatchRevocations(ctx, q, cfg.TokenTTL, time.Hour, obs.Discard(), func() { seen++ })
	require.NoError(t, err)

	a := acc.register("viewer", "password1")
	b := acc.register("other", "password1")
	for _, r := range []*Remote{watched, unwatched} {
		for _, tok := range []string{a, b} {
			_, err := r.Verify(ctx, tok)
			require.NoError(t, err)
			require.True(t, r.VerifiesAtOnce(tok), "cached")
		}
	}
	clk.t = clk.t.Add(30 * time.Second)
	require.True(t, watched.VerifiesAtOnce(a), "watched: kept past peers.cache_ttl")
	require.False(t, unwatched.VerifiesAtOnce(a), "unwatched: gone after peers.cache_ttl")
	_, err = unwatched.Verify(ctx, a)
	require.NoError(t, err)

	require.Equal(t, 200, acc.do("POST", "/api/auth/logout", a, "").status)
	require.Eventually(t, func() bool { return !watched.VerifiesAtOnce(a) }, 5*time.Second, 5*time.Millisecond,
		"the watched cache forgets the revoked token without waiting for its TTL")
	_, err = watched.Verify(ctx, a)
	require.ErrorIs(t, err, ErrTokenRevoked)
	require.True(t, watched.VerifiesAtOnce(b), "another user's token stays cached")
	uid, err := unwatched.Verify(ctx, a)
	require.NoError(t, err, "unwatched, the cache answers until its TTL")
	require.Positive(t, uid)

	c := acc.login("viewer", "password1").data()["token"].(string)
	_, err = watched.Verify(ctx, c)
	require.NoError(t, err)
	require.True(t, watched.VerifiesAtOnce(c), "a token verified after the revocation is cached again")
	require.Equal(t, 200, acc.do("POST", "/api/auth/logout-all", c, "").status)
	require.Eventually(t, func() bool { return !watched.VerifiesAtOnce(c) }, 5*time.Second, 5*time.Millisecond)
	require.Empty(t, watched.byUID.take(7777), "an unknown user has no tokens")

	// Never past the token's own expiry (token_ttl 2m): b was issued 30 s ago.
	clk.t = clk.t.Add(80 * time.Second)
	require.True(t, watched.VerifiesAtOnce(b))
	clk.t = clk.t.Add(20 * time.Second)
	require.False(t, watched.VerifiesAtOnce(b), "expired")
	_, err = watched.Verify(ctx, b)
	require.ErrorIs(t, err, ErrTokenExpired)

	d := acc.login("other", "password1").data()["token"].(string)
	_, err = watched.Verify(ctx, d)
	require.NoError(t, err)
	cancel()
	<-ended
	require.Equal(t, 2, seen)
	require.False(t, watched.VerifiesAtOnce(d), "kept for the watched TTL: dropped with the watch")
	_, err = watched.Verify(context.Background(), d)
	require.NoError(t, err)
	clk.t = clk.t.Add(2 * time.Second)
	require.False(t, watched.VerifiesAtOnce(d), "peers.cache_ttl again")
}
