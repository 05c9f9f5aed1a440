package danmaku_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// TestSendAcceptedIsStoredAndPushed checks the stored row and the DANMU_MSG layout.
func TestSendAcceptedIsStoredAndPushed(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		r := h.send(anchor, room1, map[string]any{"text": "  你好, world \t", "color": 0xFF0000, "mode": 5})
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		var got struct{ ID int64 }
		require.NoError(t, json.Unmarshal(r.Data, &got))

		items, err := h.svc.History(context.Background(), room1, 0)
		require.NoError(t, err)
		require.Equal(t, []danmaku.Comment{{ID: got.ID, RoomID: room1, UID: anchor, Uname: "anchor",
			Text: "你好, world", Color: 0xFF0000, Mode: 5, Ts: h.clock.Now().UnixMilli()}}, items)

		pushes := h.pusher.All()
		require.Len(t, pushes, 1)
		require.Equal(t, room1, pushes[0].RoomID)
		require.Len(t, pushes[0].Msgs, 1)
		var msg struct {
			Cmd  string `json:"cmd"`
			Info []json.RawMessage
		}
		require.NoError(t, json.Unmarshal(pushes[0].Msgs[0], &msg))
		require.Equal(t, "DANMU_MSG", msg.Cmd)
		var meta []any
		require.NoError(t, json.Unmarshal(msg.Info[0], &meta))
		require.EqualValues(t, 5, meta[1], "mode")
		require.EqualValues(t, 0xFF0000, meta[3], "color")
		require.EqualValues(t, h.clock.Now().UnixMilli(), meta[4], "send time")
		var text string
		require.NoError(t, json.Unmarshal(msg.Info[1], &text))
		require.Equal(t, "你好, world", text)
		var user []any
		require.NoError(t, json.Unmarshal(msg.Info[2], &user))
		require.EqualValues(t, anchor, user[0])
		require.Equal(t, "anchor", user[1])
		require.EqualValues(t, 1, user[2], "the room owner is admin")
		require.EqualValues(t, 1, h.counter("zhibo_danmaku_accepted_total", ""))

		// A viewer is not admin; color and mode default to white and scroll.
		h.sendOK(bob, room1, "hi")
		pushes = h.pusher.All()
		require.Len(t, pushes, 2)
		require.NoError(t, json.Unmarshal(pushes[1].Msgs[0], &msg))
		require.NoError(t, json.Unmarshal(msg.Info[0], &meta))
		require.EqualValues(t, 1, meta[1])
		require.EqualValues(t, 0xFFFFFF, meta[3])
		require.NoError(t, json.Unmarshal(msg.Info[2], &user))
		require.EqualValues(t, 0, user[2])
	})
}

// TestSendRejections runs every rejection and checks its status, its code, its metric, and
// that nothing was stored or pushed.
func TestSendRejections(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarnessWords(t, db, nil, false, []string{"spam", "广告"})
		_, err := h.svc.Mute(context.Background(), room1, anchor, carol)
		require.NoError(t, err)
		cases := []struct {
			name   string
			uid    int64
			path   string
			body   any
			status int
			code   int
			msg    string
			reason string
		}{
			{"anonymous", 0, "/api/rooms/1/danmaku", `{"text":"hi"}`, 401, -401, "", ""},
			{"bad token", -1, "/api/rooms/1/danmaku", `{"text":"hi"}`, 401, -401, "", ""},
			{"bad room id", bob, "/api/rooms/x/danmaku", `{"text":"hi"}`, 400, -400, "path parameter id", ""},
			{"unknown room", bob, "/api/rooms/9/danmaku", `{"text":"hi"}`, 404, -404, "", ""},
			{"body too large", bob, "/api/rooms/1/danmaku", `{"text":"` + strings.Repeat(`\ud83d\ude00`, 200) + `"}`, 413, -413, "larger than 2224 bytes", "bad_input"},
			{"empty body", bob, "/api/rooms/1/danmaku", ``, 400, -400, "empty", "bad_input"},
			{"not json", bob, "/api/rooms/1/danmaku", `hi`, 400, -400, "malformed", "bad_input"},
			{"unknown field", bob, "/api/rooms/1/danmaku", `{"text":"hi","size":3}`, 400, -400, "unknown field", "bad_input"},
			{"text wrong type", bob, "/api/rooms/1/danmaku", `{"text":5}`, 400, -400, "text", "bad_input"},
			{"no text", bob, "/api/rooms/1/danmaku", `{}`, 400, -20001, "text must not be empty", "bad_input"},
			{"blank text", bob, "/api/rooms/1/danmaku", `{"text":" \t\n "}`, 400, -20001, "text must not be empty", "bad_input"},
			{"101 CJK", bob, "/api/rooms/1/danmaku", map[string]any{"text": strings.Repeat("弹", 101)}, 400, -20001, "101 characters long, at most 100", "bad_input"},
			{"newline inside", bob, "/api/rooms/1/danmaku", `{"text":"a\nb"}`, 400, -20001, "U+000A at character 2", "bad_input"},
			{"NUL", bob, "/api/rooms/1/danmaku", `{"text":"a\u0000"}`, 400, -20001, "U+0000", "bad_input"},
			{"C1 control", bob, "/api/rooms/1/danmaku", `{"text":"a\u0085b"}`, 400, -20001, "U+0085", "bad_input"},
			{"line separator", bob, "/api/rooms/1/danmaku", `{"text":"a\u2028b"}`, 400, -20001, "U+2028", "bad_input"},
			{"negative color", bob, "/api/rooms/1/danmaku", `{"text":"hi","color":-1}`, 400, -20001, "color must be", "bad_input"},
			{"color too big", bob, "/api/rooms/1/danmaku", `{"text":"hi","color":16777216}`, 400, -20001, "color must be", "bad_input"},
			{"fractional color", bob, "/api/rooms/1/danmaku", `{"text":"hi","color":1.5}`, 400, -400, "color", "bad_input"},
			{"bad mode", bob, "/api/rooms/1/danmaku", `{"text":"hi","mode":2}`, 400, -20001, "mode must be 1 (scroll), 4 (bottom) or 5 (top), got 2", "bad_input"},
			{"banned word", bob, "/api/rooms/1/danmaku", `{"text":"buy SpAm now"}`, 400, -20002, "contains a banned word", "banned"},
			{"banned CJK word", bob, "/api/rooms/1/danmaku", `{"text":"看广告"}`, 400, -20002, "contains a banned word", "banned"},
			// The text policy: a banned word stays banned behind invisible characters,
			// compatibility forms and look-alike letters.
			{"banned behind a zero-width space", bob, "/api/rooms/1/danmaku", `{"text":"buy sp\u200bam"}`, 400, -20002, "contains a banned word", "banned"},
			{"banned behind a soft hyphen", bob, "/api/rooms/1/danmaku", `{"text":"sp\u00adam!"}`, 400, -20002, "contains a banned word", "banned"},
			{"banned in full width", bob, "/api/rooms/1/danmaku", `{"text":"ＳＰＡＭ"}`, 400, -20002, "contains a banned word", "banned"},
			{"banned in Cyrillic look-alikes", bob, "/api/rooms/1/danmaku", `{"text":"\u0455\u0440\u0430m"}`, 400, -20002, "contains a banned word", "banned"},
			{"banned CJK behind a word joiner", bob, "/api/rooms/1/danmaku", `{"text":"广\u2060告"}`, 400, -20002, "contains a banned word", "banned"},
			{"invisible only", bob, "/api/rooms/1/danmaku", `{"text":"\u200b\u00ad\u202e"}`, 400, -20001, "text must not be empty", "bad_input"},
			{"muted", carol, "/api/rooms/1/danmaku", `{"text":"hi"}`, 403, -20003, "muted", "muted"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := 0.0
				if c.reason != "" {
					before = h.rejected(c.reason)
				}
				uid := c.uid
				r := h.doAs(http.MethodPost, c.path, uid, c.body)
				require.Equal(t, c.status, r.status, r.Msg)
				require.Equal(t, c.code, r.Code, r.Msg)
				require.Contains(t, r.Msg, c.msg)
				require.NotContains(t, strings.ToLower(r.Msg), "spam")
				require.Zero(t, h.storedComments())
				require.Empty(t, h.pusher.All())
				if c.reason != "" {
					require.Equal(t, before+1, h.rejected(c.reason))
				}
			})
		}
		// None of the rejected requests spent a token: the full burst is still there.
		for range 3 {
			h.sendOK(bob, room1, "ok")
		}
	})
}

// doAs is do with uid -1 meaning a malformed bearer token.
func (h *harness) doAs(method, path string, uid int64, body any) reply {
	h.t.Helper()
	if uid != -1 {
		return h.do(method, path, uid, body)
	}
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body.(string)))
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer nope")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var r reply
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&r))
	r.status = resp.StatusCode
	return r
}

// TestSendTextLength counts characters, not bytes: 100 three-byte CJK characters are fine.
func TestSendTextLength(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *danmaku.Config) { c.Rate = 0 })
	h.sendOK(bob, room1, strings.Repeat("弹", 100))
	h.sendOK(bob, room1, "  "+strings.Repeat("a", 100)+"  ") // trimmed before counting
	h.sendOK(bob, room1, strings.Repeat("😀", 100))
	r := h.send(bob, room1, `{"text":"`+strings.Repeat(`\ud83d\ude00`, 100)+`"}`) // fits the body limit
	require.Equal(t, http.StatusOK, r.status, r.Msg)
	r = h.send(bob, room1, map[string]any{"text": strings.Repeat("😀", 101)})
	require.Equal(t, http.StatusBadRequest, r.status)
	items, err := h.svc.History(context.Background(), room1, 0)
	require.NoError(t, err)
	require.Len(t, items, 4)
	require.Equal(t, strings.Repeat("a", 100), items[1].Text)
}

// TestSendRateLimit spends the burst, is refused with Retry-After, and recovers as the
// (fake) clock moves; other users are not affected.
func TestSendRateLimit(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	for range 3 {
		h.sendOK(bob, room1, "hi")
	}
	r := h.send(bob, room1, map[string]any{"text": "hi"})
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, -20004, r.Code)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Equal(t, 3, h.storedComments())
	require.Len(t, h.pusher.All(), 3)
	require.EqualValues(t, 1, h.rejected("limited"))

	// The limit is per user, across rooms.
	h.sendOK(alice, room1, "me too")
	r = h.send(bob, room2, map[string]any{"text": "hi"})
	require.Equal(t, http.StatusTooManyRequests, r.status)

	h.clock.Advance(time.Second)
	h.sendOK(bob, room1, "again")
	r = h.send(bob, room1, map[string]any{"text": "hi"})
	require.Equal(t, http.StatusTooManyRequests, r.status)
	h.clock.Advance(3 * time.Second)
	for range 3 {
		h.sendOK(bob, room1, "refilled")
	}
}

// TestSendRateRecoversOnRealClock uses the real clock: after the burst the sender is refused
// and, polling, is let through again once a token has refilled (250 ms at 4/s; a slower rate
// than the two back-to-back sends could take on a loaded machine).
func TestSendRateRecoversOnRealClock(t *testing.T) {
	h := newHarnessWith(t, sqltest.OpenSQLite(t), func(c *danmaku.Config) { c.Rate, c.Burst = 4, 1 }, true)
	ctx := context.Background()
	_, err := h.svc.Send(ctx, room1, bob, "one", 0, 0, 0)
	require.NoError(t, err)
	_, err = h.svc.Send(ctx, room1, bob, "two", 0, 0, 0)
	require.ErrorIs(t, err, danmaku.ErrRateLimited)
	require.Eventually(t, func() bool {
		_, err := h.svc.Send(ctx, room1, bob, "three", 0, 0, 0)
		return err == nil
	}, 3*time.Second, 5*time.Millisecond)
}

// TestSendPushFailureKeepsComment: the comment is stored and the client told so, the failure
// is counted.
func TestSendPushFailureKeepsComment(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	h.pusher.Fail(errPeerDown)
	h.sendOK(bob, room1, "stored anyway")
	require.Equal(t, 1, h.storedComments())
	require.EqualValues(t, 1, h.counter("zhibo_danmaku_push_failures_total", ""))
	require.EqualValues(t, 1, h.counter("zhibo_danmaku_accepted_total", ""))
}

// TestSendPeerDown: a room component that cannot answer degrades sending (503), not 500.
func TestSendPeerDown(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	h.rooms.mu.Lock()
	h.rooms.err = errPeerDown
	h.rooms.mu.Unlock()
	r := h.send(bob, room1, map[string]any{"text": "hi"})
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Zero(t, h.storedComments())
}

// TestClientSend covers the in-process Client checks that HTTP does before calling it.
func TestClientSend(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	ctx := context.Background()
	var c danmaku.Client = h.svc
	_, err := c.Send(ctx, room1, 0, "hi", 0, 0, 0)
	require.ErrorIs(t, err, apierr.Unauthorized)
	_, err = c.Send(ctx, 0, bob, "hi", 0, 0, 0)
	require.ErrorIs(t, err, apierr.BadRequest)
	_, err = c.Send(ctx, 9, bob, "hi", 0, 0, 0)
	require.Equal(t, http.StatusNotFound, apierr.From(err).Status)
	_, err = c.Send(ctx, room1, 999, "hi", 0, 0, 0) // a uid the account component does not know
	require.ErrorIs(t, err, apierr.Unauthorized)
	_, err = c.Send(ctx, room1, bob, "\xff", 0, 0, 0)
	require.ErrorIs(t, err, danmaku.ErrBadInput)
	id, err := c.Send(ctx, room1, bob, "hi", 0x00FF00, 4, 0)
	require.NoError(t, err)
	items, err := c.History(ctx, room1, 10)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, id, items[0].ID)
	require.Equal(t, 4, items[0].Mode)
}

// TestSendStoresCleanText: what is stored and pushed is the cleaned text — bidi controls and
// invisible characters removed, compatibility forms folded (NFKC), then trimmed — so what a
// viewer sees is what the banned-word check saw.
func TestSendStoresCleanText(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *danmaku.Config) { c.Rate = 0 })
	for in, want := range map[string]string{
		"ab\u202Ec\u200bd ｈｉ":  "abcd hi",
		"\u200b hi \u2066":     "hi",
		"\u2067مرحبا\u2069 ok": "مرحبا ok",
	} {
		id := h.sendOK(bob, room1, in)
		items, err := h.svc.History(context.Background(), room1, 1)
		require.NoError(t, err)
		require.Equal(t, id, items[0].ID)
		require.Equal(t, want, items[0].Text, "%q", in)
		pushes := h.pusher.All()
		var msg struct{ Info []json.RawMessage }
		require.NoError(t, json.Unmarshal(pushes[len(pushes)-1].Msgs[0], &msg))
		var text string
		require.NoError(t, json.Unmarshal(msg.Info[1], &text))
		require.Equal(t, want, text)
	}
}
