package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
)

// A notice the queue refused reaches the room once the queue is back; of several refused,
// only the latest of each kind goes out, so viewers end on the room's current state.
func TestRefusedNoticesArePushedAgainLatestOnly(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		p := &pushtest.Recorder{}
		s, err := New(Config{MaxRoomsPerUser: 1, MaxListLimit: 50, HotThreshold: 1000},
			Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Accounts: newAccounts(), Pusher: p})
		require.NoError(t, err)
		s.pushRetryEvery = 20 * time.Millisecond
		require.NoError(t, s.Start(ctx))
		t.Cleanup(func() { _ = s.Stop(context.Background()) })
		r, err := s.Create(ctx, 1, Fields{Title: str("t")})
		require.NoError(t, err)

		p.Fail(errors.New("queue stalled"))
		_, err = s.SetLive(ctx, 1, r.ID, true)
		require.NoError(t, err, "the change is stored whatever the queue")
		_, err = s.SetLive(ctx, 1, r.ID, false)
		require.NoError(t, err)
		_, err = s.Update(ctx, 1, r.ID, Fields{Title: str("renamed")})
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond) // retries, refused
		require.Empty(t, p.All())
		require.EqualValues(t, 3, testutil.ToFloat64(s.m.pushRetries.WithLabelValues("kept")))

		p.Fail(nil)
		require.Eventually(t, func() bool { return len(p.All()) == 2 }, 5*time.Second, 10*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		msgs := p.Msgs()
		require.Len(t, msgs, 2, "one notice per kind: the latest")
		require.Contains(t, msgs, string(protocol.PreparingMsg(r.ID)))
		require.NotContains(t, msgs, string(protocol.LiveMsg(r.ID)), "LIVE was out of date")
		require.Contains(t, msgs, string(protocol.RoomChange{Title: "renamed", AreaName: r.Area}.JSON()))
		require.EqualValues(t, 2, testutil.ToFloat64(s.m.pushRetries.WithLabelValues("pushed")))

		// A notice pushed in its time replaces a kept one of its kind: the kept one never goes.
		p.Fail(errors.New("queue stalled"))
		s.push(ctx, r.ID, noticeStatus, protocol.LiveMsg(r.ID))
		p.Fail(nil)
		s.push(ctx, r.ID, noticeStatus, protocol.PreparingMsg(r.ID))
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, []string{string(protocol.PreparingMsg(r.ID))}, p.Msgs()[2:])

		// Refused for longer than pushRetryFor: dropped, and counted.
		p.Fail(errors.New("queue down"))
		s.push(ctx, r.ID, noticeStatus, protocol.LiveMsg(r.ID))
		s.notices.mu.Lock()
		k := noticeKey{r.ID, noticeStatus}
		kept := s.notices.pending[k]
		kept.since = time.Now().Add(-pushRetryFor) // kept since a minute ago
		s.notices.pending[k] = kept
		s.notices.mu.Unlock()
		require.Eventually(t, func() bool { return testutil.ToFloat64(s.m.pushRetries.WithLabelValues("dropped")) == 1 },
			5*time.Second, 10*time.Millisecond)
		p.Fail(nil)
		time.Sleep(100 * time.Millisecond)
		require.Len(t, p.Msgs(), 3, "the dropped notice never goes")
	})
}
