package presence

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

func TestReportRoundTrip(t *testing.T) {
	r := Report{Server: "host.example-42", Addr: "10.0.0.7:9100", Rooms: map[int64]int64{1: 3, 1 << 40: 1, 7: 0}}
	got, err := decode(encode(r))
	require.NoError(t, err)
	require.Equal(t, r, got)
	empty, err := decode(encode(Report{Server: "s"}))
	require.NoError(t, err)
	require.Empty(t, empty.Rooms)
	for _, bad := range [][]byte{nil, {9}, {version, 200}, append(encode(r), 0), encode(r)[:10]} {
		_, err := decode(bad)
		require.ErrorIs(t, err, errBadEntry, "%x", bad)
	}
	require.Equal(t, "host_example-42", Key("host.example-42"), "a dot would split the key")
}

// A fresh report says exactly where a room is; a recent join adds a comet ahead of its report;
// a stale report gets every room (nothing is known for sure); a forgotten one gets nothing.
func TestViewRoutes(t *testing.T) {
	now := time.Unix(1000, 0)
	v := NewView(3*time.Second, time.Minute)
	v.Now = func() time.Time { return now }
	holders := func(room int64) []string {
		m := map[string]bool{}
		v.Holders(m, room)
		var out []string
		for _, k := range []string{"a", "b", "c"} {
			if m[k] {
				out = append(out, k)
			}
		}
		return out
	}
	v.Apply(Event{Server: "a", Report: Report{Server: "a", Addr: "a:1", Rooms: map[int64]int64{1: 2, 2: 1}, At: now}})
	v.Apply(Event{Server: "b", Report: Report{Server: "b", Addr: "b:1", Rooms: map[int64]int64{2: 5}, At: now}})
	require.Equal(t, []string{"a"}, holders(1))
	require.Equal(t, []string{"a", "b"}, holders(2))
	require.Empty(t, holders(3))
	require.Equal(t, map[int64]int64{1: 2, 2: 6}, v.Totals())
	require.Equal(t, map[string]string{"a": "a:1", "b": "b:1"}, v.Comets())

	var joined []string
	v.OnJoin = func(s string, room int64, _ time.Time) { joined = append(joined, fmt.Sprint(s, room)) }
	v.Apply(Event{Server: "b", Join: true, Room: 1, At: now})
	require.Equal(t, []string{"a", "b"}, holders(1), "a join routes the room before the comet's report has it")
	require.True(t, v.Holds("b", 1))
	require.Equal(t, []string{"b1"}, joined)

	now = now.Add(time.Second)
	v.Apply(Event{Server: "b", Report: Report{Server: "b", Addr: "b:1", Rooms: map[int64]int64{1: 1, 2: 5}, At: now}})
	require.Equal(t, []string{"a", "b"}, holders(1), "the report took the join over")
	v.Apply(Event{Server: "b", Report: Report{Server: "b", Addr: "b:1", Rooms: map[int64]int64{9: 9}, At: now.Add(-time.Hour)}})
	require.Equal(t, []string{"a", "b"}, holders(1), "a late, older report changes nothing")

	now = now.Add(2500 * time.Millisecond) // a's report is 3.5 s old: stale; b's 2.5 s: fresh
	require.Equal(t, []string{"a", "b"}, holders(1))
	require.Equal(t, []string{"a"}, holders(3), "a stale comet gets every room")
	require.Equal(t, map[int64]int64{1: 1, 2: 5}, v.Totals(), "stale reports leave the totals")

	now = now.Add(time.Minute) // both forgotten
	require.Empty(t, holders(1))
	require.Empty(t, v.Comets())
	v.Apply(Event{Server: "c", Join: true, Room: 4, At: now.Add(-10 * time.Second)})
	require.Empty(t, holders(4), "an old join routes nothing")
	v.Apply(Event{Server: "a", Gone: true})
	_, ok := v.Report("a")
	require.False(t, ok)
}

// Reports and joins written by one process reach the watchers of another through the queue.
func TestTableSharesReports(t *testing.T) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "presence")
	open := func() *Table {
		q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: ns}, t.TempDir(), obs.Discard())
		require.NoError(t, err)
		t.Cleanup(q.Close)
		tb, err := Open(context.Background(), q, obs.Discard())
		require.NoError(t, err)
		return tb
	}
	writer, reader := open(), open()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, writer.Put(ctx, Report{Server: "c1", Addr: "127.0.0.1:1", Rooms: map[int64]int64{5: 2}}))

	var mu sync.Mutex
	var seen []Event
	ready, err := reader.Watch(ctx, func(e Event) { mu.Lock(); seen = append(seen, e); mu.Unlock() })
	require.NoError(t, err)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("watch never delivered the current entries")
	}
	require.NoError(t, writer.Join(ctx, "c2", 6))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 2 }, 10*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "c1", seen[0].Server)
	require.Equal(t, map[int64]int64{5: 2}, seen[0].Report.Rooms)
	require.Equal(t, "127.0.0.1:1", seen[0].Report.Addr)
	require.WithinDuration(t, time.Now(), seen[0].At, time.Minute)
	require.True(t, seen[1].Join)
	require.Equal(t, "c2", seen[1].Server)
	require.EqualValues(t, 6, seen[1].Room)
}
