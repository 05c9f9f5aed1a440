package danmaku_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

func (h *harness) historyReads(source string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() != "zhibo_danmaku_history_reads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == source {
				return m.GetCounter().GetValue()
			}
		}
	}
	h.t.Fatalf("zhibo_danmaku_history_reads_total{source=%q} not found", source)
	return 0
}

// A hot room's history is read from the store once per danmaku.hot_history_ttl; a comment
// accepted by this process shows at once without a store read; a cold room reads the store
// every time, and so does a room whose pin ended.
func TestHotRoomHistoryFromMemory(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		tr := hotroom.New(nil)
		h := newHarnessDeps(t, db, func(c *danmaku.Config) { c.Rate, c.HotThreshold, c.HotHistoryTTL = 0, 100, time.Minute }, false, nil,
			func(d *danmaku.Deps) { d.Hot = tr })
		h.sendOK(bob, room1, "before")

		h.history("/api/rooms/1/danmaku")
		h.history("/api/rooms/1/danmaku")
		require.Equal(t, float64(2), h.historyReads("store"), "cold: every read goes to the store")

		tr.Update(map[int64]int64{room1: 100})
		h.history("/api/rooms/1/danmaku") // loads
		store := h.historyReads("store")
		for range 5 {
			items := h.history("/api/rooms/1/danmaku")
			require.Equal(t, "before", items[len(items)-1]["text"])
		}
		require.Equal(t, store, h.historyReads("store"), "hot: served from memory")
		require.Equal(t, float64(5), h.historyReads("memory"))

		h.sendOK(alice, room1, "after")
		items := h.history("/api/rooms/1/danmaku?limit=2")
		require.Len(t, items, 2)
		require.Equal(t, "before", items[0]["text"])
		require.Equal(t, "after", items[1]["text"], "the write updated the copy in memory")
		require.Equal(t, store, h.historyReads("store"))

		h.clock.Advance(time.Minute)
		h.history("/api/rooms/1/danmaku")
		require.Equal(t, store+1, h.historyReads("store"), "read again after the ttl")

		tr.Update(nil)
		tr.PinRoom(room1, time.Now().Add(300*time.Millisecond), "event")
		h.history("/api/rooms/1/danmaku")
		require.Equal(t, store+1, h.historyReads("store"), "pinned: still from memory")
		require.Eventually(t, func() bool {
			n := h.historyReads("store")
			h.history("/api/rooms/1/danmaku")
			return h.historyReads("store") == n+1
		}, 5*time.Second, 20*time.Millisecond, "the pin ended: the store again")
	})
}
