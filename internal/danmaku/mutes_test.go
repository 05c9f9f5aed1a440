package danmaku_test

import (
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

func (h *harness) mutes(operator, roomID int64) reply {
	h.t.Helper()
	return h.do(http.MethodGet, fmt.Sprintf("/api/rooms/%d/mutes", roomID), operator, nil)
}

func (h *harness) mutedUsers(roomID int64) []danmaku.MutedUser {
	h.t.Helper()
	r := h.mutes(h.rooms.rooms[roomID].OwnerUID, roomID)
	require.Equal(h.t, http.StatusOK, r.status, r.Msg)
	var out struct{ Items []danmaku.MutedUser }
	require.NoError(h.t, json.Unmarshal(r.Data, &out))
	return out.Items
}

// TestMuteByOwner: the owner mutes and unmutes; the mute applies to that room only; both
// directions are idempotent.
func TestMuteByOwner(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *danmaku.Config) { c.Rate = 0 })
		require.Empty(t, h.mutedUsers(room1))
		since := h.clock.Now().UnixMilli()

		r := h.do(http.MethodPost, "/api/rooms/1/mutes", anchor, map[string]any{"uid": bob})
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		require.JSONEq(t, fmt.Sprintf(`{"uid":%d,"uname":"bob","since":%d}`, bob, since), string(r.Data))
		r = h.send(bob, room1, map[string]any{"text": "hi"})
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, -20003, r.Code)
		h.sendOK(bob, room2, "still fine elsewhere")

		// Muting again keeps the first mute.
		h.clock.Advance(5000)
		r = h.do(http.MethodPost, "/api/rooms/1/mutes", anchor, map[string]any{"uid": bob})
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, fmt.Sprintf(`{"uid":%d,"uname":"bob","since":%d}`, bob, since), string(r.Data))
		r = h.do(http.MethodPost, "/api/rooms/1/mutes", anchor, map[string]any{"uid": carol})
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, []danmaku.MutedUser{
			{UID: carol, Uname: "carol", Since: h.clock.Now().UnixMilli()},
			{UID: bob, Uname: "bob", Since: since},
		}, h.mutedUsers(room1))
		muted, err := h.svc.IsMuted(context.Background(), room1, bob)
		require.NoError(t, err)
		require.True(t, muted)

		r = h.do(http.MethodDelete, fmt.Sprintf("/api/rooms/1/mutes/%d", bob), anchor, nil)
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		require.JSONEq(t, fmt.Sprintf(`{"uid":%d,"removed":true}`, bob), string(r.Data))
		h.sendOK(bob, room1, "back")
		r = h.do(http.MethodDelete, fmt.Sprintf("/api/rooms/1/mutes/%d", bob), anchor, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, fmt.Sprintf(`{"uid":%d,"removed":false}`, bob), string(r.Data))
		require.Equal(t, []danmaku.MutedUser{{UID: carol, Uname: "carol", Since: h.clock.Now().UnixMilli()}},
			h.mutedUsers(room1))
	})
}

// TestMuteRejections: every refusal has its status and changes no mute.
func TestMuteRejections(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		_, err := h.svc.Mute(context.Background(), room1, anchor, carol)
		require.NoError(t, err)
		cases := []struct {
			name   string
			method string
			path   string
			uid    int64
			body   any
			status int
			code   int
		}{
			{"mute anonymous", "POST", "/api/rooms/1/mutes", 0, `{"uid":202}`, 401, -401},
			{"mute by viewer", "POST", "/api/rooms/1/mutes", alice, `{"uid":202}`, 403, -20005},
			{"mute by muted viewer", "POST", "/api/rooms/1/mutes", carol, `{"uid":202}`, 403, -20005},
			{"mute unknown room", "POST", "/api/rooms/9/mutes", anchor, `{"uid":202}`, 404, -404},
			{"mute bad room id", "POST", "/api/rooms/0/mutes", anchor, `{"uid":202}`, 400, -400},
			{"mute self", "POST", "/api/rooms/1/mutes", anchor, `{"uid":100}`, 400, -20006},
			{"mute no uid", "POST", "/api/rooms/1/mutes", anchor, `{}`, 400, -20001},
			{"mute negative uid", "POST", "/api/rooms/1/mutes", anchor, `{"uid":-5}`, 400, -20001},
			{"mute uid as text", "POST", "/api/rooms/1/mutes", anchor, `{"uid":"202"}`, 400, -400},
			{"mute unknown field", "POST", "/api/rooms/1/mutes", anchor, `{"uid":202,"for":60}`, 400, -400},
			{"mute unknown user", "POST", "/api/rooms/1/mutes", anchor, `{"uid":999}`, 404, -20007},
			{"unmute anonymous", "DELETE", "/api/rooms/1/mutes/203", 0, nil, 401, -401},
			{"unmute by viewer", "DELETE", "/api/rooms/1/mutes/203", alice, nil, 403, -20005},
			{"unmute self by muted", "DELETE", "/api/rooms/1/mutes/203", carol, nil, 403, -20005},
			{"unmute unknown room", "DELETE", "/api/rooms/9/mutes/203", anchor, nil, 404, -404},
			{"unmute bad uid", "DELETE", "/api/rooms/1/mutes/abc", anchor, nil, 400, -400},
			{"list anonymous", "GET", "/api/rooms/1/mutes", 0, nil, 401, -401},
			{"list by viewer", "GET", "/api/rooms/1/mutes", bob, nil, 403, -20005},
			{"list unknown room", "GET", "/api/rooms/9/mutes", anchor, nil, 404, -404},
			{"list bad limit", "GET", "/api/rooms/1/mutes?limit=0", anchor, nil, 400, -400},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := h.do(c.method, c.path, c.uid, c.body)
				require.Equal(t, c.status, r.status, r.Msg)
				require.Equal(t, c.code, r.Code, r.Msg)
				require.Equal(t, []danmaku.MutedUser{{UID: carol, Uname: "carol", Since: h.clock.Now().UnixMilli()}},
					h.mutedUsers(room1))
				require.Empty(t, h.mutedUsers(room2))
			})
		}
	})
}

// TestMuteListWithoutNames: the account component being down leaves names empty.
func TestMuteListWithoutNames(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	ctx := context.Background()
	_, err := h.svc.Mute(ctx, room1, anchor, bob)
	require.NoError(t, err)
	h.accounts.Fail(errPeerDown)
	items, err := h.svc.Mutes(ctx, room1, anchor, 0)
	require.NoError(t, err)
	require.Equal(t, []danmaku.MutedUser{{UID: bob, Since: h.clock.Now().UnixMilli()}}, items)
}

// TestMuteCache: a hot room's muted users are served from memory; a mute or unmute through
// this service applies to the next comment, one made elsewhere (here: straight in the store)
// within mute_cache_ttl.
func TestMuteCache(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		const ttl = 2 * time.Second
		h := newHarness(t, db, func(c *danmaku.Config) {
			c.Rate, c.MuteCacheTTL = 0, ttl
			c.HotKeys.ReportInterval = 10 * time.Millisecond
		})
		ctx := context.Background()
		hits := func() float64 { return h.counter("zhibo_hotkey_cache_hits_total", "") }
		isMuted := func(uid int64) bool {
			muted, err := h.svc.IsMuted(ctx, room1, uid)
			require.NoError(t, err)
			return muted
		}
		// The room turns hot after a few checks; then they are served from memory.
		deadline := time.Now().Add(5 * time.Second)
		for before := hits(); ; before = hits() {
			require.False(t, isMuted(carol))
			if hits() > before {
				break
			}
			require.True(t, time.Now().Before(deadline), "room1's mutes never served from memory")
			time.Sleep(5 * time.Millisecond)
		}
		served := hits()
		for i := range 5 {
			h.sendOK(bob, room1, fmt.Sprintf("hi %d", i))
		}
		require.Equal(t, served+5, hits(), "five comments, no store read")

		r := h.do(http.MethodPost, "/api/rooms/1/mutes", anchor, map[string]any{"uid": bob})
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		require.Equal(t, http.StatusForbidden, h.send(bob, room1, map[string]any{"text": "muted now"}).status)

		// Muted by another process: not seen from memory until the ttl has passed.
		_, err := db.ExecContext(ctx,
			`INSERT INTO danmaku_mutes (room_id, uid, by_uid, created_at) VALUES (?, ?, ?, ?)`, room1, carol, anchor, 1)
		require.NoError(t, err)
		loaded := time.Now()
		require.False(t, isMuted(carol), "served from memory within the ttl")
		for !isMuted(carol) {
			require.Less(t, time.Since(loaded), ttl+time.Second, "still not muted after the ttl")
			time.Sleep(20 * time.Millisecond)
		}
		require.GreaterOrEqual(t, time.Since(loaded), ttl/2, "seen before the ttl: not served from memory")

		r = h.do(http.MethodDelete, fmt.Sprintf("/api/rooms/1/mutes/%d", bob), anchor, nil)
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		h.sendOK(bob, room1, "unmuted now")
	})
}

// TestMuteCacheOff: with mute_cache_ttl 0 every comment reads the store.
func TestMuteCacheOff(t *testing.T) {
	db := sqltest.OpenSQLite(t)
	h := newHarness(t, db, func(c *danmaku.Config) { c.Rate, c.MuteCacheTTL = 0, 0 })
	require.Nil(t, h.svc.MuteKeys())
	h.sendOK(carol, room1, "before")
	_, err := db.ExecContext(context.Background(),
		`INSERT INTO danmaku_mutes (room_id, uid, by_uid, created_at) VALUES (?, ?, ?, ?)`, room1, carol, anchor, 1)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, h.send(carol, room1, map[string]any{"text": "after"}).status)
}

// BenchmarkSendMuteCache sends comments from parallel senders into one room on SQLite, with
// the room's muted set read from the store for every comment (ttl 0) and from memory (1s).
func BenchmarkSendMuteCache(b *testing.B) {
	for _, ttl := range []time.Duration{0, time.Second} {
		b.Run("ttl="+ttl.String(), func(b *testing.B) {
			h := newHarnessWith(b, sqltest.OpenSQLite(b), func(c *danmaku.Config) { c.Rate, c.MuteCacheTTL = 0, ttl }, true)
			_, err := h.svc.Mute(context.Background(), room1, anchor, carol)
			require.NoError(b, err)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.svc.Send(context.Background(), room1, bob, "hello", 0, 0, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
