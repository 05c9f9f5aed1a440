package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/tlsx/tlsxtest"
)

// With grpc_tls_* set, components call each other over TLS and the server takes only callers
// with a certificate its CA signed: a peer configured with peers.tls_* gets answers; a plain
// caller, or one without a client certificate, gets none.
func TestGRPCBetweenComponentsOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlsxtest.NewCA(t, dir)
	srvCert, srvKey := ca.Issue(t, dir, "server", "account", false)
	cliCert, cliKey := ca.Issue(t, dir, "client", "gateway", true)
	natsURL := queuetest.URL(t)
	a, _ := startAll(t, filepath.Join(dir, "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.GRPCTLSCertFile, c.GRPCTLSKeyFile, c.GRPCTLSClientCAFile = srvCert, srvKey, ca.File
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "grpctls")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := a.Account.SignUp(ctx, "tls_peer", "password1")
	require.NoError(t, err)
	target := a.GRPCAddr().String()

	// A process configured as a peer would be: peers.tls_ca_file and its client certificate.
	peerCfg := config.Defaults()
	peerCfg.DataDir = t.TempDir()
	peerCfg.Peers.Account = target
	peerCfg.Peers.TLSCAFile, peerCfg.Peers.TLSCertFile, peerCfg.Peers.TLSKeyFile = ca.File, cliCert, cliKey
	peer, err := New(peerCfg, []string{"gateway"}, obs.Discard())
	require.NoError(t, err)
	opts, err := peer.peerOpts()
	require.NoError(t, err)
	cc, err := grpcx.Dial(target, opts...)
	require.NoError(t, err)
	defer cc.Close()
	uid, err := account.NewRemote(cc, 0).Verify(ctx, sess.Token)
	require.NoError(t, err, "a peer with the CA and a client certificate is answered")
	require.Equal(t, sess.UID, uid)

	refused := func(opts ...grpcx.Option) {
		t.Helper()
		cc, err := grpcx.Dial(target, opts...)
		require.NoError(t, err)
		defer cc.Close()
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		defer ccancel()
		_, err = account.NewRemote(cc, 0).Verify(cctx, sess.Token)
		require.Error(t, err)
	}
	refused() // plain gRPC to a TLS server
	noClientCert := peerCfg
	noClientCert.Peers.TLSCertFile, noClientCert.Peers.TLSKeyFile = "", ""
	p2, err := New(noClientCert, []string{"gateway"}, obs.Discard())
	require.NoError(t, err)
	opts2, err := p2.peerOpts()
	require.NoError(t, err)
	refused(opts2...) // TLS, but no client certificate
}
