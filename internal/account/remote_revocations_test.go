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

// A process with account in another process caches which user each token is (peers.cache_ttl,
// an hour here); watching the logouts broadcast, it forgets a user's tokens as soon as one of
// the account processes revokes them, and verifies them again: refused. Tokens of other users
// stay cached, and so does the user's next login. Without the watch the logged-out token is
// still taken from the cache.
func TestRemoteDropsRevokedTokens(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	cfg := testConfig(t)
	q := openQueue(t)
	acc := startHTTPQueue(t, db, cfg, signer, &clock{t: time.Now()}, obs.Discard(), q)
	srv := grpcx.NewServer("127.0.0.1:0", obs.Discard())
	RegisterGRPC(srv, acc.s)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	remote := func() *Remote {
		cc, err := grpcx.Dial(srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = cc.Close() })
		return NewRemote(cc, time.Hour)
	}
	watched, unwatched := remote(), remote()
	ctx, cancel := context.WithCancel(context.Background())
	var seen int
	ended, err := watched.WatchRevocations(ctx, q, cfg.TokenTTL, obs.Discard(), func() { seen++ })
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
	cancel()
	<-ended
	require.Equal(t, 2, seen)
}
