package danmaku_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

type grant struct{ uid, delta, id int64 }

// fakeExp records experience grants, failing while err is set.
type fakeExp struct {
	mu     sync.Mutex
	grants []grant
	err    error
}

func (f *fakeExp) AddExp(_ context.Context, uid, delta, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.grants = append(f.grants, grant{uid, delta, id})
	return nil
}

// TestSendGrantsExp: an accepted comment earns its sender one point under the comment's id; a
// rejected one earns nothing; a failed grant does not fail the stored comment.
func TestSendGrantsExp(t *testing.T) {
	ctx := context.Background()
	gen, err := ids.New(1)
	require.NoError(t, err)
	exp := &fakeExp{}
	cfg := danmaku.DefaultConfig()
	svc, err := danmaku.New(cfg, danmaku.Deps{
		Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: sqltest.OpenSQLite(t), IDs: gen,
		Rooms:    &fakeRooms{rooms: map[int64]room.Room{room1: {ID: room1, OwnerUID: anchor}}},
		Accounts: accounttest.New(map[int64]string{alice: "alice"}), Pusher: &pushtest.Recorder{}, Exp: exp,
		Words: textnorm.NewWords([]string{"spam"}),
	})
	require.NoError(t, err)
	require.NoError(t, svc.Start(ctx))
	t.Cleanup(func() { require.NoError(t, svc.Stop(ctx)) })

	id, err := svc.Send(ctx, room1, alice, "hello", 0, 0, 0)
	require.NoError(t, err)
	_, err = svc.Send(ctx, room1, alice, "spam spam", 0, 0, 0)
	require.Error(t, err)
	require.Equal(t, []grant{{alice, 1, id}}, exp.grants)

	exp.err = errors.New("queue down")
	_, err = svc.Send(ctx, room1, alice, "still stored", 0, 0, 0)
	require.NoError(t, err)
	require.Len(t, exp.grants, 1)
}
