package danmaku_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// danmuExtra decodes the extra document of a pushed DANMU_MSG (info[0][15].extra).
func danmuExtra(t *testing.T, msg []byte) map[string]any {
	t.Helper()
	var m struct{ Info []json.RawMessage }
	require.NoError(t, json.Unmarshal(msg, &m))
	var meta []json.RawMessage
	require.NoError(t, json.Unmarshal(m.Info[0], &meta))
	var obj struct{ Extra string }
	require.NoError(t, json.Unmarshal(meta[15], &obj))
	var extra map[string]any
	require.NoError(t, json.Unmarshal([]byte(obj.Extra), &extra))
	return extra
}

// A reply names the comment it answers; it is stored, listed and pushed like any comment,
// carrying that comment's id and sender, and the sender's name fills the DANMU_MSG's
// reply_mid and reply_uname. Replying to one's own comment is allowed.
func TestReplyIsStoredAndPushed(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *danmaku.Config) { c.Rate = 0 })
		first := h.sendOK(bob, room1, "first")
		r := h.send(alice, room1, map[string]any{"text": "welcome", "reply_to": first})
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		var got struct{ ID int64 }
		require.NoError(t, json.Unmarshal(r.Data, &got))
		self := h.sendOK(bob, room1, "plain")
		r = h.send(bob, room1, map[string]any{"text": "talking to myself", "reply_to": self})
		require.Equal(t, http.StatusOK, r.status, r.Msg)

		items, err := h.svc.History(context.Background(), room1, 0)
		require.NoError(t, err)
		require.Len(t, items, 4)
		ts := h.clock.Now().UnixMilli()
		require.Equal(t, danmaku.Comment{ID: got.ID, RoomID: room1, UID: alice, Uname: "alice", Text: "welcome",
			Color: 0xFFFFFF, Mode: 1, Ts: ts, ReplyTo: first, ReplyUID: bob, ReplyUname: "bob"}, items[1])
		require.Zero(t, items[0].ReplyTo, "a comment that answers none")
		require.Equal(t, self, items[3].ReplyTo)
		require.Equal(t, bob, items[3].ReplyUID)

		// The JSON of the history names the reply's fields; a comment that is no reply has none.
		hr := h.do(http.MethodGet, "/api/rooms/1/danmaku", 0, nil)
		require.Equal(t, http.StatusOK, hr.status)
		var page struct{ Items []map[string]any }
		require.NoError(t, json.Unmarshal(hr.Data, &page))
		require.EqualValues(t, first, page.Items[1]["reply_to"])
		require.EqualValues(t, bob, page.Items[1]["reply_uid"])
		require.Equal(t, "bob", page.Items[1]["reply_uname"])
		require.NotContains(t, page.Items[0], "reply_to")

		pushes := h.pusher.All()
		require.Len(t, pushes, 4)
		extra := danmuExtra(t, pushes[1].Msgs[0])
		require.EqualValues(t, bob, extra["reply_mid"])
		require.Equal(t, "bob", extra["reply_uname"])
		require.Equal(t, strconv.FormatInt(first, 10), extra["reply_id_str"])
		extra = danmuExtra(t, pushes[0].Msgs[0])
		require.EqualValues(t, 0, extra["reply_mid"])
		require.NotContains(t, extra, "reply_id_str")
	})
}

// Each refusal of reply_to — no such comment, a comment of another room, one older than
// danmaku.reply_window, not an id — has its status and code, stores and pushes nothing, is
// counted, and spends none of the sender's tokens.
func TestReplyRefusals(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *danmaku.Config) { c.Rate, c.Burst = 1, 1 })
		other := h.sendOK(alice, room2, "in alice's room")
		old := h.sendOK(carol, room1, "said long ago")
		h.clock.Advance(24*time.Hour + time.Millisecond)
		recent := h.sendOK(anchor, room1, "said just now")
		stored, pushed := h.storedComments(), len(h.pusher.All())
		for _, c := range []struct {
			name   string
			body   any
			status int
			code   int
			msg    string
			reason string
		}{
			{"unknown comment", map[string]any{"text": "hi", "reply_to": recent + 1000}, 404, -20009, "does not exist", "bad_reply"},
			{"another room's comment", map[string]any{"text": "hi", "reply_to": other}, 400, -20010, "another room", "bad_reply"},
			{"too old", map[string]any{"text": "hi", "reply_to": old}, 400, -20011, "older than 24h0m0s", "bad_reply"},
			{"negative", map[string]any{"text": "hi", "reply_to": -1}, 400, -20001, "reply_to must be the id of a comment", "bad_input"},
			{"not a number", `{"text":"hi","reply_to":"x"}`, 400, -400, "reply_to", "bad_input"},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := h.rejected(c.reason)
				r := h.send(bob, room1, c.body)
				require.Equal(t, c.status, r.status, r.Msg)
				require.Equal(t, c.code, r.Code, r.Msg)
				require.Contains(t, r.Msg, c.msg)
				require.Equal(t, before+1, h.rejected(c.reason))
				require.Equal(t, stored, h.storedComments())
				require.Len(t, h.pusher.All(), pushed)
			})
		}
		// None of the refusals spent bob's one token; a reply within the window is accepted.
		r := h.send(bob, room1, map[string]any{"text": "hi", "reply_to": recent})
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		// The in-process Client refuses the same way.
		_, err := h.svc.Send(context.Background(), room1, alice, "hi", 0, 0, other)
		require.ErrorIs(t, err, danmaku.ErrReplyOtherRoom)
	})
}

// reader reads the MENTIONS stream of q into a list, for the assertions of a test.
type reader struct {
	mu  sync.Mutex
	got []danmaku.Mention
}

func readMentions(t *testing.T, q *queue.Queue) *reader {
	t.Helper()
	r := &reader{}
	require.NoError(t, q.EnsureStream(context.Background(), danmaku.MentionStream(q)))
	stop, err := q.Consume(context.Background(), queue.ConsumerSpec{Stream: q.Stream(danmaku.MentionStreamName), Durable: "test",
		AckWait: 5 * time.Second, MaxPending: 10}, func(m queue.Msg) {
		var c danmaku.Mention
		require.NoError(t, json.Unmarshal(m.Data(), &c))
		r.mu.Lock()
		r.got = append(r.got, c)
		r.mu.Unlock()
		_ = m.Ack()
	})
	require.NoError(t, err)
	t.Cleanup(stop)
	return r
}

func (r *reader) all() []danmaku.Mention {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]danmaku.Mention(nil), r.got...)
}

// A reply to someone else's comment goes on the MENTIONS stream once, with the comment it
// answers and that comment's sender; a reply to one's own comment does not. When the queue is
// away the comment is stored and acknowledged all the same, and the outbox relay publishes it
// once the queue is back — once, even when it is relayed again (marked too late).
func TestRepliesArePublishedOnceThroughTheOutbox(t *testing.T) {
	ctx := context.Background()
	nats := queuetest.NewServer(t) // of this test's own: it is stopped and started
	q, err := queue.Open(ctx, queue.Config{URL: nats.URL(), Namespace: queuetest.Namespace(t, nats.URL(), "replies")}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	db := sqltest.OpenSQLite(t)
	h := newHarnessDeps(t, db, func(c *danmaku.Config) {
		c.Rate, c.RelayInterval, c.PushTimeout = 0, 20*time.Millisecond, 300*time.Millisecond
	}, false, nil, func(d *danmaku.Deps) { d.Queue = q })
	unpushed := func() int {
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM danmaku_comments WHERE pushed = 0").Scan(&n))
		return n
	}
	r := readMentions(t, q)

	first := h.sendOK(bob, room1, "first")
	self := h.sendOK(alice, room1, "mine")
	h.send(alice, room1, map[string]any{"text": "me again", "reply_to": self})
	reply := h.send(alice, room1, map[string]any{"text": "welcome", "reply_to": first})
	require.Equal(t, http.StatusOK, reply.status, reply.Msg)
	var id struct{ ID int64 }
	require.NoError(t, json.Unmarshal(reply.Data, &id))
	want := danmaku.Mention{ID: id.ID, RoomID: room1, UID: alice, Uname: "alice", Text: "welcome", Ts: h.clock.Now().UnixMilli(),
		ReplyTo: first, ReplyUID: bob, ReplyUname: "bob"}
	require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []danmaku.Mention{want}, r.all(), "only the reply to someone else")
	require.Eventually(t, func() bool { return unpushed() == 0 }, 5*time.Second, 10*time.Millisecond)

	// The queue goes away: the reply is stored and acknowledged, its push (a recorder here)
	// goes out, its publish does not.
	nats.Stop()
	second := h.send(carol, room1, map[string]any{"text": "me too", "reply_to": first})
	require.Equal(t, http.StatusOK, second.status, second.Msg)
	require.NoError(t, json.Unmarshal(second.Data, &id))
	require.Equal(t, 1, unpushed())
	require.Equal(t, 1.0, counterValue(t, h.reg, "zhibo_danmaku_mentions_published_total", "error"))
	nats.Start()
	h.clock.Advance(4 * time.Second) // past the relay's age
	require.Eventually(t, func() bool { return len(r.all()) == 2 && unpushed() == 0 }, 15*time.Second, 20*time.Millisecond,
		"the relay published the reply once the queue was back")
	require.Equal(t, danmaku.Mention{ID: id.ID, RoomID: room1, UID: carol, Uname: "carol", Text: "me too",
		Ts: h.clock.Now().Add(-4 * time.Second).UnixMilli(), ReplyTo: first, ReplyUID: bob, ReplyUname: "bob"}, r.all()[1])
	require.Len(t, h.pusher.All(), 5, "the push that went out is not repeated")

	// Marked too late (a crash after the publish): relayed again under the same message ids,
	// taken once.
	_, err = db.Exec("UPDATE danmaku_comments SET pushed = 0")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return unpushed() == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { return len(r.all()) > 2 }, 300*time.Millisecond, 20*time.Millisecond, "a copy arrived")
	require.Len(t, h.pusher.All(), 5)
}
