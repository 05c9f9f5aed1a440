package danmaku_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// A comment whose push failed (the queue was down) is stored and acknowledged, and the outbox
// relay pushes it once the queue is back — once: a pushed comment is marked, and a comment
// pushed again under its id (marked too late, say) is taken once by the stream.
func TestOutboxPushesWhatTheQueueMissed(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *danmaku.Config) { c.RelayInterval = 20 * time.Millisecond })
		unpushed := func() int {
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM danmaku_comments WHERE pushed = 0").Scan(&n))
			return n
		}
		h.sendOK(bob, room1, "pushed at once")
		require.Eventually(t, func() bool { return unpushed() == 0 }, 5*time.Second, 10*time.Millisecond, "a pushed comment is marked (within markEvery)")

		h.pusher.Fail(errPeerDown)
		h.sendOK(bob, room1, "while the queue is down")
		require.Len(t, h.pusher.All(), 1)
		h.pusher.Fail(nil)
		time.Sleep(100 * time.Millisecond)
		require.Len(t, h.pusher.All(), 1, "the relay leaves comments younger than its age to their request")
		require.Equal(t, 1, unpushed())

		h.clock.Advance(4 * time.Second)
		require.Eventually(t, func() bool { return len(h.pusher.All()) == 2 && unpushed() == 0 }, 5*time.Second, 10*time.Millisecond,
			"the relay pushed the stranded comment and marked it")
		require.Contains(t, h.pusher.Msgs()[1], "while the queue is down")
		require.EqualValues(t, 1, h.counter("zhibo_danmaku_relayed_total", ""))

		// Marked too late (a crash after the push): pushed again under the same id, taken once.
		_, err := db.Exec("UPDATE danmaku_comments SET pushed = 0")
		require.NoError(t, err)
		require.Eventually(t, func() bool { return unpushed() == 0 }, 5*time.Second, 10*time.Millisecond)
		require.Len(t, h.pusher.All(), 2, "a push repeated under its id is not delivered twice")
		require.Equal(t, 2, h.storedComments())
	})
}
