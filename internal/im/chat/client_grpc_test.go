package chat

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// settingsOnly is a Client that answers Settings from a map.
type settingsOnly struct {
	Client
	of map[int64]Settings
}

func (c settingsOnly) Settings(_ context.Context, uid int64) (Settings, error) { return c.of[uid], nil }

// Settings cross gRPC whole: allow and the do-not-disturb hours, and the defaults as the
// defaults.
func TestRemoteSettings(t *testing.T) {
	want := Settings{Allow: AllowFollowers, DND: DND{On: true, From: "22:00", To: "07:00", TZ: "Asia/Shanghai"}}
	srv := grpcx.NewServer("127.0.0.1:0", obs.Discard())
	RegisterGRPC(srv, settingsOnly{of: map[int64]Settings{7: want}})
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	cc, err := grpcx.Dial(srv.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	r := NewRemote(cc)
	got, err := r.Settings(context.Background(), 7)
	require.NoError(t, err)
	require.Equal(t, want, got)
	got, err = r.Settings(context.Background(), 8)
	require.NoError(t, err)
	require.Equal(t, Settings{}, got)
}
