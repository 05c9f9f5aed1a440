package notice_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/room"
)

// noticePushes returns the IM_NOTICE pushes to uid of kind, in order.
func (h *harness) noticePushes(uid int64, kind int) []map[string]any {
	var out []map[string]any
	for _, p := range h.pushes.All() {
		if p.Target != push.TargetUser || len(p.UIDs) != 1 || p.UIDs[0] != uid {
			continue
		}
		var ev struct {
			Cmd  string
			Data map[string]any
		}
		if json.Unmarshal(p.Msgs[0], &ev) == nil && ev.Cmd == "IM_NOTICE" && ev.Data["kind"] == float64(kind) {
			out = append(out, ev.Data)
		}
	}
	return out
}

func (h *harness) inbox(uid int64, kind string) []notice.Item {
	var in struct{ Items []notice.Item }
	require.Equal(h.t, 200, h.call(uid, "GET", "/api/im/notices?kind="+kind, nil, &in))
	return in.Items
}

func (h *harness) unread(uid int64) map[string]int64 {
	var n map[string]int64
	require.Equal(h.t, 200, h.call(uid, "GET", "/api/im/notices/unread", nil, &n))
	return n
}

// A comment naming users gives each of them one mention notice, pushed; the sender naming
// themself and names of nobody give none, and the comment read again gives no second one.
func TestMentionNotices(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		ctx := context.Background()
		require.NoError(t, h.q.EnsureStream(ctx, danmaku.MentionStream(h.q)))
		// What danmaku publishes for a stored comment with an '@' (its own test checks it does).
		publish := func(c danmaku.Mention, msgID string) {
			data, err := json.Marshal(c)
			require.NoError(t, err)
			require.NoError(t, h.q.Publish(ctx, h.q.Subject(danmaku.MentionSubjectPrefix+"77"), data, msgID))
		}
		c := danmaku.Mention{ID: 9001, RoomID: 77, UID: 2, Uname: "user2", Text: "hi @user3 and @USER4, me @user2, @nobody mail a@user5",
			Ts: 1_700_000_000_000}
		publish(c, "mention-9001")
		require.NoError(t, h.q.Publish(ctx, h.q.Subject(danmaku.MentionSubjectPrefix+"77"), []byte("{"), "")) // unreadable: skipped

		for _, u := range []int64{3, 4} {
			require.Eventually(t, func() bool { return len(h.noticePushes(u, notice.KindMention)) == 1 }, 10*time.Second, 10*time.Millisecond)
			items := h.inbox(u, "mention")
			require.Len(t, items, 1)
			require.Equal(t, c.Text, items[0].Body)
			require.Equal(t, int64(77), items[0].Room)
			require.Equal(t, []notice.Actor{{UID: 2, Name: "user2"}}, items[0].Actors)
			require.False(t, items[0].Read)
			require.Equal(t, map[string]int64{"system": 0, "mention": 1, "like": 0, "follow": 0, "reply": 0}, h.unread(u))
		}
		// Read again: the same comment under a new message id (past the stream's duplicate
		// window), then a later comment to show the first was passed.
		publish(c, "mention-9001-again")
		publish(danmaku.Mention{ID: 9002, RoomID: 77, UID: 3, Uname: "user3", Text: "@user4 again", Ts: 1_700_000_001_000}, "mention-9002")
		require.Eventually(t, func() bool { return len(h.noticePushes(4, notice.KindMention)) == 2 }, 10*time.Second, 10*time.Millisecond)
		require.Len(t, h.inbox(4, "mention"), 2)
		require.Len(t, h.inbox(3, "mention"), 1, "the comment read twice gave one notice")
		require.Empty(t, h.inbox(2, "mention"), "no notice for mentioning oneself")
		require.Empty(t, h.inbox(5, "mention"), "an e-mail address is no mention")
	})
}

// 100 likes of a room from 3 users give its anchor one like notice with count 100 and one
// unread, pushed; a like event delivered again does not count twice, nor does the anchor's own.
func TestLikeNoticeAggregates(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		ctx := context.Background()
		const rm, anchor = 12, 5
		h.rooms.Add(rm)
		h.rooms.SetOwner(rm, anchor)
		require.NoError(t, room.EnsureLikesStream(ctx, h.q))
		base := time.Date(2026, 1, 2, 20, 10, 0, 0, time.UTC).UnixMilli()
		like := func(ev room.LikeEvent, msgID string) {
			data, err := json.Marshal(ev)
			require.NoError(t, err)
			require.NoError(t, h.q.Publish(ctx, h.q.Subject(room.LikesSubjectPrefix+strconv.Itoa(rm)), data, msgID))
		}
		var id int64
		for _, l := range []struct{ uid, events int64 }{{2, 4}, {3, 3}, {4, 3}} {
			for range l.events {
				id++
				like(room.LikeEvent{Room: rm, UID: l.uid, Count: 10, ID: id, Ts: base + id}, fmt.Sprint("like:", id))
			}
		}
		like(room.LikeEvent{Room: rm, UID: anchor, Count: 7, ID: 500, Ts: base + 500}, "like:500") // the anchor's own
		like(room.LikeEvent{Room: rm, UID: 4, Count: 10, ID: 10, Ts: base + 10}, "like:10-again")  // event 10 again

		require.Eventually(t, func() bool {
			items := h.inbox(anchor, "like")
			return len(items) == 1 && items[0].Count == 100
		}, 10*time.Second, 10*time.Millisecond)
		// Nothing more arrives: the event read twice and the anchor's own like are not counted.
		require.Never(t, func() bool { return h.inbox(anchor, "like")[0].Count != 100 }, 1500*time.Millisecond, 100*time.Millisecond)
		it := h.inbox(anchor, "like")[0]
		require.Equal(t, int64(rm), it.Room)
		require.Equal(t, []notice.Actor{{UID: 4, Name: "user4"}, {UID: 3, Name: "user3"}, {UID: 2, Name: "user2"}}, it.Actors)
		require.Equal(t, "user4, user3 and user2 liked your live (100 likes)", it.Title)
		require.Equal(t, map[string]int64{"system": 0, "mention": 0, "like": 1, "follow": 0, "reply": 0}, h.unread(anchor))
		pushes := h.noticePushes(anchor, notice.KindLike)
		require.NotEmpty(t, pushes)
		require.Equal(t, true, pushes[0]["new"])
		require.Equal(t, float64(100), pushes[len(pushes)-1]["count"])
		for _, p := range pushes[1:] {
			require.Equal(t, false, p["new"], "later pushes update the notice")
		}

		// Read, then more likes in the same window: the count grows, nothing is unread; a
		// like in the next hour opens a new unread notice.
		require.Equal(t, 200, h.call(anchor, "POST", "/api/im/notices/read", map[string]any{"kind": "like", "read_id": it.ID}, nil))
		like(room.LikeEvent{Room: rm, UID: 2, Count: 3, ID: 600, Ts: base + 600}, "like:600")
		require.Eventually(t, func() bool { return h.inbox(anchor, "like")[0].Count == 103 }, 10*time.Second, 10*time.Millisecond)
		require.Zero(t, h.unread(anchor)["like"])
		like(room.LikeEvent{Room: rm, UID: 3, Count: 1, ID: 700, Ts: base + time.Hour.Milliseconds()}, "like:700")
		require.Eventually(t, func() bool { return len(h.inbox(anchor, "like")) == 2 }, 10*time.Second, 10*time.Millisecond)
		items := h.inbox(anchor, "like")
		require.Equal(t, "user3 liked your live", items[0].Title)
		require.Equal(t, int64(1), h.unread(anchor)["like"])
	})
}

func TestMentioned(t *testing.T) {
	for text, want := range map[string][]string{
		"@ab hi":                                 {"ab"},
		"@a @bb @BB @cc@dd":                      {"bb", "cc"},
		"x@ab @名字 @@cd":                          {"名字", "cd"},
		"@toolong_name_is_over_thirty_two_chars": nil,
		"(@ab_c-d)":                              {"ab_c-d"},
	} {
		got, _ := notice.Mentioned(text, 5)
		require.Equal(t, want, got, text)
	}
	got, over := notice.Mentioned("@u1 @u2 @u3 @u4", 2)
	require.Equal(t, []string{"u1", "u2"}, got)
	require.Equal(t, 2, over)
}

// A follow gives the followed user one follow notice, pushed, naming the follower; the same
// event read again (a redelivery, or a re-publish past the duplicate window) gives none more,
// nor does the same follower following again that day, while another follow gives its own.
func TestFollowNotices(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		ctx := context.Background()
		require.NoError(t, h.q.EnsureStream(ctx, account.FollowStream(h.q)))
		// What account publishes for a new follow (its own test checks it does).
		publish := func(ev account.FollowEvent, msgID string) {
			data, err := json.Marshal(ev)
			require.NoError(t, err)
			require.NoError(t, h.q.Publish(ctx, h.q.Subject(account.FollowSubjectPrefix+strconv.FormatInt(ev.Followee, 10)), data, msgID))
		}
		ev := account.FollowEvent{ID: 7001, Follower: 2, Name: "user2", Followee: 5, Ts: 1_700_000_000_000}
		publish(ev, "follow:7001")
		publish(ev, "follow:7001") // within the duplicate window: dropped by the queue
		publish(ev, "follow:7001-again")
		require.NoError(t, h.q.Publish(ctx, h.q.Subject(account.FollowSubjectPrefix+"5"), []byte("{"), "")) // unreadable: skipped
		publish(account.FollowEvent{ID: 7002, Follower: 3, Name: "user3", Followee: 5, Ts: 1_700_000_001_000}, "follow:7002")

		require.Eventually(t, func() bool { return len(h.noticePushes(5, notice.KindFollow)) == 2 }, 10*time.Second, 10*time.Millisecond)
		items := h.inbox(5, "follow")
		require.Len(t, items, 2, "the event read twice gave one notice")
		require.Equal(t, "user3 followed you", items[0].Title)
		require.Equal(t, []notice.Actor{{UID: 3, Name: "user3"}}, items[0].Actors)
		require.Equal(t, "user2 followed you", items[1].Title)
		require.Equal(t, int64(2), items[1].Sender)
		require.Equal(t, int64(1_700_000_000_000), items[1].Ts)
		require.Zero(t, items[1].Room)
		require.False(t, items[1].Read)
		require.Equal(t, map[string]int64{"system": 0, "mention": 0, "like": 0, "follow": 2, "reply": 0}, h.unread(5))
		pushed := h.noticePushes(5, notice.KindFollow)
		require.Equal(t, true, pushed[0]["new"])
		require.Empty(t, h.inbox(2, "follow"), "the follower gets nothing")

		require.Equal(t, 200, h.call(5, "POST", "/api/im/notices/read", map[string]any{"kind": "follow", "read_id": items[0].ID}, nil))
		require.Zero(t, h.unread(5)["follow"])
		// Still once after the read; user2 following again the same day (after an unfollow:
		// a new event) gives none either; a later follow counts one unread.
		publish(ev, "follow:7001-third")
		publish(account.FollowEvent{ID: 7004, Follower: 2, Name: "user2", Followee: 5, Ts: ev.Ts + 3_600_000}, "follow:7004")
		publish(account.FollowEvent{ID: 7003, Follower: 4, Name: "user4", Followee: 5, Ts: 1_700_000_002_000}, "follow:7003")
		require.Eventually(t, func() bool { return len(h.noticePushes(5, notice.KindFollow)) == 3 }, 10*time.Second, 10*time.Millisecond)
		titles := func() []string {
			var out []string
			for _, it := range h.inbox(5, "follow") {
				out = append(out, it.Title)
			}
			return out
		}
		require.Equal(t, []string{"user4 followed you", "user3 followed you", "user2 followed you"}, titles())
		require.Equal(t, int64(1), h.unread(5)["follow"])
		// The next day user2's follow is news again.
		publish(account.FollowEvent{ID: 7005, Follower: 2, Name: "user2", Followee: 5, Ts: ev.Ts + 86_400_000}, "follow:7005")
		require.Eventually(t, func() bool { return len(h.noticePushes(5, notice.KindFollow)) == 4 }, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, []string{"user2 followed you", "user4 followed you", "user3 followed you", "user2 followed you"}, titles())
		require.Equal(t, int64(2), h.unread(5)["follow"])
	})
}

// publishComment puts c on the MENTIONS stream as danmaku does for a stored comment that
// names someone or replies to someone else (its own tests check it does), under msgID.
func (h *harness) publishComment(c danmaku.Mention, msgID string) {
	h.t.Helper()
	ctx := context.Background()
	require.NoError(h.t, h.q.EnsureStream(ctx, danmaku.MentionStream(h.q)))
	data, err := json.Marshal(c)
	require.NoError(h.t, err)
	require.NoError(h.t, h.q.Publish(ctx, h.q.Subject(danmaku.MentionSubjectPrefix+strconv.FormatInt(c.RoomID, 10)), data, msgID))
}

// A reply gives the sender of the comment it answers one reply notice, pushed, naming the
// replier, the room, the reply and the comment answered — and no mention notice besides when
// the reply also names them; others it names get their mention. The comment delivered again
// gives none more; a reply to oneself gives none. Replies count unread on their own.
func TestReplyNotices(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		c := danmaku.Mention{ID: 9101, RoomID: 77, UID: 2, Uname: "user2", Text: "@user3 me too, ask @user4", Ts: 1_700_000_000_000,
			ReplyTo: 9000, ReplyUID: 3, ReplyUname: "user3"}
		h.publishComment(c, "mention:9101")
		h.publishComment(c, "mention:9101") // within the duplicate window: dropped by the queue
		h.publishComment(c, "mention:9101-again")
		h.publishComment(danmaku.Mention{ID: 9102, RoomID: 77, UID: 5, Uname: "user5", Text: "@user5 note to self", Ts: 1_700_000_001_000,
			ReplyTo: 9050, ReplyUID: 5, ReplyUname: "user5"}, "mention:9102")
		// A later comment to show the ones before were passed.
		h.publishComment(danmaku.Mention{ID: 9103, RoomID: 77, UID: 4, Uname: "user4", Text: "welcome", Ts: 1_700_000_002_000,
			ReplyTo: 9001, ReplyUID: 3, ReplyUname: "user3"}, "mention:9103")

		require.Eventually(t, func() bool { return len(h.noticePushes(3, notice.KindReply)) == 2 }, 10*time.Second, 10*time.Millisecond)
		require.Eventually(t, func() bool { return len(h.noticePushes(4, notice.KindMention)) == 1 }, 10*time.Second, 10*time.Millisecond)
		items := h.inbox(3, "reply")
		require.Len(t, items, 2, "the comment read twice gave one notice")
		it := items[1]
		require.Equal(t, "user2 replied to your comment", it.Title)
		require.Equal(t, c.Text, it.Body)
		require.Equal(t, int64(77), it.Room)
		require.Equal(t, int64(9000), it.ReplyTo)
		require.Equal(t, int64(2), it.Sender)
		require.Equal(t, c.Ts, it.Ts)
		require.Equal(t, []notice.Actor{{UID: 2, Name: "user2"}}, it.Actors)
		require.Equal(t, notice.KindReply, it.Kind)
		require.False(t, it.Read)
		require.Equal(t, int64(9001), items[0].ReplyTo)
		require.Equal(t, "user4 replied to your comment", items[0].Title)
		require.Empty(t, h.inbox(3, "mention"), "named in a reply to them: the reply notice is theirs")
		require.Len(t, h.inbox(4, "mention"), 1, "named in someone else's reply: a mention")
		require.Empty(t, h.inbox(4, "reply"))
		require.Empty(t, h.inbox(5, "reply"), "no notice for replying to oneself")
		require.Empty(t, h.inbox(5, "mention"))
		require.Equal(t, map[string]int64{"system": 0, "mention": 0, "like": 0, "follow": 0, "reply": 2}, h.unread(3))
		pushed := h.noticePushes(3, notice.KindReply)
		require.Equal(t, true, pushed[0]["new"])
		require.Equal(t, float64(9000), pushed[0]["reply_to"])

		// Read: nothing unread; the first comment once more gives nothing, a new reply one unread.
		require.Equal(t, 200, h.call(3, "POST", "/api/im/notices/read", map[string]any{"kind": "reply", "read_id": items[0].ID}, nil))
		require.Zero(t, h.unread(3)["reply"])
		h.publishComment(c, "mention:9101-third")
		h.publishComment(danmaku.Mention{ID: 9104, RoomID: 78, UID: 4, Uname: "user4", Text: "and here", Ts: 1_700_000_003_000,
			ReplyTo: 9002, ReplyUID: 3, ReplyUname: "user3"}, "mention:9104")
		require.Eventually(t, func() bool { return len(h.noticePushes(3, notice.KindReply)) == 3 }, 10*time.Second, 10*time.Millisecond)
		require.Len(t, h.inbox(3, "reply"), 3)
		require.Equal(t, map[string]int64{"system": 0, "mention": 0, "like": 0, "follow": 0, "reply": 1}, h.unread(3))
	})
}

// With im_notice.replies off a reply gives no reply notice; the user it answers, when it
// names them, gets the mention notice instead.
func TestReplyNoticesOff(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *notice.Config) { c.Replies = false })
	h.publishComment(danmaku.Mention{ID: 9201, RoomID: 77, UID: 2, Uname: "user2", Text: "@user3 yes", Ts: 1_700_000_000_000,
		ReplyTo: 9000, ReplyUID: 3, ReplyUname: "user3"}, "mention:9201")
	h.publishComment(danmaku.Mention{ID: 9202, RoomID: 77, UID: 2, Uname: "user2", Text: "no name", Ts: 1_700_000_001_000,
		ReplyTo: 9000, ReplyUID: 4, ReplyUname: "user4"}, "mention:9202")
	h.publishComment(danmaku.Mention{ID: 9203, RoomID: 77, UID: 2, Uname: "user2", Text: "@user4 later", Ts: 1_700_000_002_000}, "mention:9203")
	require.Eventually(t, func() bool { return len(h.noticePushes(4, notice.KindMention)) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Len(t, h.inbox(3, "mention"), 1)
	require.Empty(t, h.inbox(3, "reply"))
	require.Empty(t, h.inbox(4, "reply"))
	require.Equal(t, map[string]int64{"system": 0, "mention": 1, "like": 0, "follow": 0, "reply": 0}, h.unread(3))
}
