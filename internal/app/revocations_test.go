package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

// A gateway with account in another process keeps the tokens it verified for
// peers.cache_ttl (a minute here), and drops a user's as soon as account revokes them: it
// watches the logouts broadcast on the cluster's queue.
func TestGatewayForgetsRevokedTokensAtOnce(t *testing.T) {
	natsURL := queuetest.URL(t)
	ns := queuetest.Namespace(t, natsURL, "revoked")
	back, _ := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, ns
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := back.Account.SignUp(ctx, "revoked_viewer", "password1")
	require.NoError(t, err)

	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Peers.Account, cfg.Peers.CacheTTL = back.GRPCAddr().String(), time.Minute
	cfg.Queue.URL, cfg.Queue.Namespace = natsURL, ns
	front, err := New(cfg, []string{"gateway"}, obs.Discard())
	require.NoError(t, err)
	require.NoError(t, front.Start(ctx))
	t.Cleanup(func() { require.NoError(t, front.Stop(context.Background())) })

	accounts, ok := front.accounts.(*account.Remote)
	require.True(t, ok, "account is another process's")
	uid, err := accounts.Verify(ctx, sess.Token)
	require.NoError(t, err)
	require.Equal(t, sess.UID, uid)
	require.True(t, accounts.VerifiesAtOnce(sess.Token), "cached for peers.cache_ttl")

	require.NoError(t, back.Account.LogoutAll(ctx, sess.UID))
	require.Eventually(t, func() bool { return !accounts.VerifiesAtOnce(sess.Token) }, 10*time.Second, 10*time.Millisecond,
		"dropped as the broadcast arrives, not a minute later")
	_, err = accounts.Verify(ctx, sess.Token)
	require.Error(t, err, "asked again: refused")
	w, ok := front.built[0].(*remoteRevocations)
	require.True(t, ok, "the watch starts first")
	require.Equal(t, 1.0, testutil.ToFloat64(w.seen)) // zhibo_account_remote_revocations_total
}
