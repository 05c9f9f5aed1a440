package comet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/protocol"
)

// remoteFor serves e's comet over gRPC on loopback and returns a Remote client of it.
func remoteFor(t testing.TB, e *env) *Remote {
	srv := grpcx.NewServer("127.0.0.1:0", obs.Discard())
	RegisterGRPC(srv, e.svc)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	cc, err := grpcx.Dial(srv.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return NewRemote(cc, srv.Addr().String())
}

func TestRemotePushReachesViewers(t *testing.T) {
	e := startEnv(t, nil)
	r := remoteFor(t, e)
	c := e.dialTCP(t)
	c.join(7, 0)
	msg := protocol.LiveMsg(7)
	require.NoError(t, r.PushRoom(context.Background(), 7, [][]byte{msg}))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ps := c.read()
		if len(ps) > 0 && ps[0].Op == protocol.OpMessage {
			require.Equal(t, msg, ps[0].Body)
			break
		}
		require.True(t, time.Now().Before(deadline))
	}
	require.NoError(t, r.Broadcast(context.Background(), [][]byte{msg}))
	require.NoError(t, r.PushUsers(context.Background(), []int64{1}, [][]byte{msg}))
}

// BenchmarkRemotePushEmptyRoom is what a job pays to send a batch to a comet that holds no
// viewer of the room: the cost of pushing every room batch to every comet.
func BenchmarkRemotePushEmptyRoom(b *testing.B) {
	e := startEnv(b, nil)
	r := remoteFor(b, e)
	msgs := [][]byte{protocol.LiveMsg(7)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.PushRoom(ctx, 424242, msgs); err != nil {
			b.Fatal(err)
		}
	}
}
