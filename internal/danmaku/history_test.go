package danmaku_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func (h *harness) history(path string) []map[string]any {
	h.t.Helper()
	r := h.do(http.MethodGet, path, 0, nil)
	require.Equal(h.t, http.StatusOK, r.status, r.Msg)
	var out struct{ Items []map[string]any }
	dec := json.NewDecoder(bytes.NewReader(r.Data))
	dec.UseNumber() // ids do not fit a float64
	require.NoError(h.t, dec.Decode(&out))
	require.NotNil(h.t, out.Items, "items is a list, never null")
	return out.Items
}

// TestHistoryOrderAndCap: the last history_size comments, oldest first, per room.
func TestHistoryOrderAndCap(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *danmaku.Config) { c.Rate = 0 })
		require.Empty(t, h.history("/api/rooms/1/danmaku"))
		const sent = 55
		ids := make([]int64, sent)
		for i := range sent {
			ids[i] = h.sendOK([]int64{bob, alice}[i%2], room1, fmt.Sprintf("c%02d", i))
			h.clock.Advance(time.Millisecond)
		}
		h.sendOK(bob, room2, "other room")

		items := h.history("/api/rooms/1/danmaku")
		require.Len(t, items, 50)
		for i, it := range items {
			n := sent - 50 + i
			require.Equal(t, fmt.Sprintf("c%02d", n), it["text"])
			require.Equal(t, json.Number(fmt.Sprint(ids[n])), it["id"])
		}
		num := func(v int64) json.Number { return json.Number(fmt.Sprint(v)) }
		require.Equal(t, map[string]any{
			"id": num(ids[sent-1]), "uid": num(bob), "uname": "bob", "text": "c54",
			"color": num(0xFFFFFF), "mode": num(1), "ts": num(h.clock.Now().UnixMilli() - 1),
		}, items[49])

		items = h.history("/api/rooms/1/danmaku?limit=3")
		require.Len(t, items, 3)
		require.Equal(t, "c52", items[0]["text"])
		require.Equal(t, "c54", items[2]["text"])

		other := h.history("/api/rooms/2/danmaku")
		require.Len(t, other, 1)

		// The Client caps at history_size too.
		got, err := h.svc.History(context.Background(), room1, 500)
		require.NoError(t, err)
		require.Len(t, got, 50)
	})
}

func TestHistoryRejections(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *danmaku.Config) { c.HistorySize = 5 })
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/rooms/9/danmaku", 404},
		{"/api/rooms/-1/danmaku", 400},
		{"/api/rooms/1/danmaku?limit=0", 400},
		{"/api/rooms/1/danmaku?limit=6", 400},
		{"/api/rooms/1/danmaku?limit=x", 400},
	} {
		r := h.do(http.MethodGet, c.path, 0, nil)
		require.Equal(t, c.status, r.status, c.path)
	}
	require.Len(t, h.history("/api/rooms/1/danmaku?limit=5"), 0)
}

// Comments stored before the text policy may hold bidi overrides and invisible characters;
// the history shows them cleaned.
func TestHistoryCleansOldRows(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	_, err := h.db.Exec("INSERT INTO danmaku_comments (id, room_id, uid, uname, text, color, mode, created_at) VALUES (7, ?, ?, 'bob', ?, 16777215, 1, 1)",
		room1, bob, "\u202Eabc\u200bdef")
	require.NoError(t, err)
	items, err := h.svc.History(context.Background(), room1, 0)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "abcdef", items[0].Text)
}
