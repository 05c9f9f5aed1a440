package presence

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

// A user is online while a fresh list of some comet names them; a list older than Stale says
// nothing, a later list replaces an earlier one (an older one arriving late changes nothing),
// a comet gone takes its list along; a tracked user is tracked for TrackTTL after the last
// write. The rooms' view takes none of these events for a report.
func TestUsersView(t *testing.T) {
	now := time.Unix(1000, 0)
	u := NewUsers(5 * time.Second)
	u.Now = func() time.Time { return now }
	u.Apply(Event{Server: "a", Users: true, UIDs: []int64{7, 8}, At: now})
	u.Apply(Event{Server: "b", Users: true, UIDs: []int64{9}, At: now})
	require.True(t, u.Online(7))
	require.True(t, u.Online(9))
	require.False(t, u.Online(10))

	u.Apply(Event{Server: "a", Users: true, UIDs: []int64{8}, At: now.Add(time.Second)})
	u.Apply(Event{Server: "a", Users: true, UIDs: []int64{7, 8}, At: now}) // late
	require.False(t, u.Online(7), "7 left a; the late list does not bring them back")
	require.True(t, u.Online(8))

	u.Apply(Event{Server: "b", Gone: true})
	require.False(t, u.Online(9))
	now = now.Add(7 * time.Second)
	require.False(t, u.Online(8), "a's list is stale")

	u.Apply(Event{Track: true, UID: 8, At: now})
	u.Apply(Event{Track: true, UID: 3, At: now.Add(-TrackTTL + time.Second)})
	require.Equal(t, []int64{3, 8}, u.Tracked())
	now = now.Add(2 * time.Second)
	require.Equal(t, []int64{8}, u.Tracked(), "3's tracker stopped writing")

	v := NewView(5*time.Second, time.Minute)
	v.Now = u.Now
	_, replaced := v.Apply(Event{Server: "a", Users: true, UIDs: []int64{8}, At: now})
	require.False(t, replaced)
	v.Apply(Event{Track: true, UID: 8, At: now})
	require.Empty(t, v.Comets(), "not reports")
}

// Lists and tracks go through the bucket: a reader of every entry gets them with the reports;
// WatchUsers gets the lists alone.
func TestTableSharesUsers(t *testing.T) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "presence")
	q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: ns}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	tb, err := Open(context.Background(), q, obs.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var all, lists []Event
	collect := func(into *[]Event) func(Event) {
		return func(e Event) { mu.Lock(); *into = append(*into, e); mu.Unlock() }
	}
	ready, err := tb.Watch(ctx, collect(&all))
	require.NoError(t, err)
	<-ready
	ready, err = tb.WatchUsers(ctx, collect(&lists))
	require.NoError(t, err)
	<-ready

	require.NoError(t, tb.Put(ctx, Report{Server: "c.1", Rooms: map[int64]int64{5: 1}}))
	require.NoError(t, tb.Track(ctx, 42))
	require.NoError(t, tb.PutUsers(ctx, "c.1", []int64{42, 1 << 40}))
	require.NoError(t, tb.PutUsers(ctx, "c.1", nil))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(all) == 4 && len(lists) == 2 }, 10*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.True(t, all[1].Track)
	require.EqualValues(t, 42, all[1].UID)
	require.True(t, lists[0].Users)
	require.Equal(t, "c_1", lists[0].Server)
	require.Equal(t, []int64{42, 1 << 40}, lists[0].UIDs)
	require.True(t, lists[1].Users)
	require.Empty(t, lists[1].UIDs, "none connected any more")
	require.Equal(t, lists, all[2:], "the same events through either watch")
}
