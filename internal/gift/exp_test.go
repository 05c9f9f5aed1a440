package gift

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
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

func (f *fakeExp) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeExp) all() []grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]grant(nil), f.grants...)
}

// newExpEnv is newEnv with experience granted through exp.
func newExpEnv(t *testing.T, db *sqlstore.DB, exp Exp) *env {
	q, err := queue.Open(context.Background(), queue.Config{}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	e := &env{db: db, q: q, rooms: newFakeRooms(), accounts: newAccounts(), pusher: &pushtest.Recorder{}}
	gen, err := ids.New(1)
	require.NoError(t, err)
	e.svc, err = New(testConfig(t), Deps{
		Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, IDs: gen, Queue: q,
		Rooms: e.rooms, Accounts: e.accounts, Pusher: e.pusher, Exp: exp,
	})
	require.NoError(t, err)
	require.NoError(t, e.svc.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, e.svc.Stop(context.Background())) })
	mux := http.NewServeMux()
	e.svc.Register(mux)
	e.srv = httptest.NewServer(httpx.Identify(e.accounts, nil, mux))
	t.Cleanup(e.srv.Close)
	return e
}

// TestSendGrantsExp: a new order grants its sender +total under the order id, an idempotent
// replay grants nothing, and a grant that fails keeps the order in the outbox until the relay
// has stored both its event and the grant.
func TestSendGrantsExp(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		exp := &fakeExp{}
		e := newExpEnv(t, db, exp)
		o := e.send(t, aliceUID, roomMain, 3, 2, "exp-1")
		e.send(t, aliceUID, roomMain, 3, 2, "exp-1") // a replay
		require.Equal(t, []grant{{aliceUID, 20, o.ID}}, exp.all())

		exp.fail(errors.New("queue down"))
		o2 := e.send(t, bobUID, roomMain, 4, 1, "exp-2")
		require.Equal(t, int64(0), e.count(t, "SELECT published FROM gift_orders WHERE id = ?", o2.ID))
		exp.fail(nil)
		eventually(t, func() bool {
			return e.count(t, "SELECT published FROM gift_orders WHERE id = ?", o2.ID) == 1
		}, "the relay never published order %d", o2.ID)
		require.Equal(t, []grant{{aliceUID, 20, o.ID}, {bobUID, 52, o2.ID}}, exp.all())
		eventually(t, func() bool { return e.rank(t, roomMain, "").AnchorScore == 72 }, "score never reached 72")
	})
}
