package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// get reads a GET answer's data as uid, requiring a 200.
func get[T any](h *harness, uid int64, path string) T {
	h.t.Helper()
	code, data, _ := h.call(uid, "GET", path, "")
	require.Equal(h.t, 200, code, "%s", data)
	var v T
	require.NoError(h.t, json.Unmarshal(data, &v))
	return v
}

func unread(h *harness, uid int64) int64 {
	return get[struct{ Total int64 }](h, uid, "/api/im/unread").Total
}

func page(h *harness, uid int64, query string) chat.Page {
	return get[chat.Page](h, uid, "/api/im/conversations"+query)
}

func history(h *harness, uid, peer int64, query string) chat.Chat {
	return get[chat.Chat](h, uid, fmt.Sprintf("/api/im/conversations/%d/messages%s", peer, query))
}

func syncPage(h *harness, uid, after int64, limit int) chat.Synced {
	return get[chat.Synced](h, uid, fmt.Sprintf("/api/im/sync?after=%d&limit=%d", after, limit))
}

// A message goes through the queue to the store (both sides' conversations, the receiver's
// unread counts) and to both sides' connections; reading it moves the counts and tells the
// sender.
func TestSendStoreDeliverRead(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		m1 := h.send(alice, bob, "  hello bob  ", "")
		m2 := h.send(alice, bob, "line one\nline two", "")
		m3 := h.send(bob, alice, "hi alice", "")
		require.Equal(t, "hello bob", m1.Text, "trimmed")
		require.Less(t, m1.ID, m2.ID)
		h.waitFor("both sides' unread", func() bool { return unread(h, bob) == 2 && unread(h, alice) == 1 })

		h.waitFor("delivered", func() bool { return len(h.delivered("IM_MSG")) == 3 })
		for _, d := range h.delivered("IM_MSG") {
			m := d.message(t)
			require.ElementsMatch(t, []int64{m.To, m.From}, d.uids, "both sides' connections")
		}

		p := page(h, bob, "")
		require.Len(t, p.Items, 1)
		require.Equal(t, alice, p.Items[0].Peer)
		require.Equal(t, "alice", p.Items[0].PeerName)
		require.EqualValues(t, 2, p.Items[0].Unread)
		require.Equal(t, m3.ID, p.Items[0].LastID)
		require.Equal(t, "hi alice", p.Items[0].Last.Text)

		c := history(h, alice, bob, "")
		require.Equal(t, []int64{m3.ID, m2.ID, m1.ID}, idsOf(c.Items))
		require.Zero(t, c.PeerReadID)
		c = history(h, alice, bob, fmt.Sprintf("?before=%d&limit=1", m2.ID))
		require.Equal(t, []int64{m1.ID}, idsOf(c.Items))

		code, data, _ := h.call(bob, "POST", fmt.Sprintf("/api/im/conversations/%d/read", alice), jsonBody(map[string]int64{"read_id": m2.ID}))
		require.Equal(t, 200, code, "%s", data)
		require.Zero(t, unread(h, bob))
		require.Equal(t, m2.ID, history(h, alice, bob, "").PeerReadID, "alice sees bob has read")
		reads := h.delivered("IM_READ")
		require.Len(t, reads, 1)
		require.ElementsMatch(t, []int64{alice, bob}, reads[0].uids)

		code, data, _ = h.call(bob, "GET", fmt.Sprintf("/api/im/sync?after=%d", m1.ID), "")
		require.Equal(t, 200, code)
		var sync struct{ Items []chat.Message }
		require.NoError(t, json.Unmarshal(data, &sync))
		require.Equal(t, []int64{m2.ID, m3.ID}, idsOf(sync.Items))
	})
}

func idsOf(ms []chat.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// A send repeated with its client id — one after another, or many at once before the first
// is stored — is one message: every answer names it, and it is stored and counted once.
func TestReplayedClientIDIsOneMessage(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	first := h.send(alice, bob, "once", "c-1")
	again := h.send(alice, bob, "once", "c-1")
	require.Equal(t, first.ID, again.ID)

	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = h.send(carol, bob, "burst", "c-2").ID
		}()
	}
	wg.Wait()
	for _, id := range got {
		require.Equal(t, got[0], id)
	}
	h.waitFor("stored", func() bool { return unread(h, bob) >= 2 })
	time.Sleep(50 * time.Millisecond) // a second copy, if any, would be applied by now
	require.EqualValues(t, 2, unread(h, bob))
	require.Len(t, history(h, bob, carol, "").Items, 1)
	require.Len(t, history(h, bob, alice, "").Items, 1)
	// Stored now: the store answers the replay.
	code, data, _ := h.call(alice, "POST", "/api/im/messages", jsonBody(chat.SendInput{To: bob, Text: "once", ClientID: "c-1"}))
	require.Equal(t, 200, code)
	var r struct {
		ID     int64
		Replay bool
	}
	require.NoError(t, json.Unmarshal(data, &r))
	require.Equal(t, first.ID, r.ID)
	require.True(t, r.Replay)
}

// Bad input gets a clear error and changes nothing.
func TestRefusedSends(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *chat.Config) { c.MaxRunes = 10 })
	cases := []struct {
		name string
		from int64
		body string
		code int
		says string
	}{
		{"no token", 0, `{"to":202,"text":"x"}`, 401, ""},
		{"empty", alice, `{"to":202,"text":"   "}`, 400, "must not be empty"},
		{"too long", alice, `{"to":202,"text":"12345678901"}`, 400, "at most 10"},
		{"invalid utf-8", alice, "{\"to\":202,\"text\":\"a\xff\"}", 400, "valid UTF-8"},
		{"control character", alice, `{"to":202,"text":"a\u0007b"}`, 400, "U+0007"},
		{"banned", alice, `{"to":202,"text":"buy SPAM"}`, 400, "banned"},
		{"self", alice, `{"to":201,"text":"me"}`, 400, "yourself"},
		{"no such user", alice, `{"to":999,"text":"hi"}`, 404, "not found"},
		{"no receiver", alice, `{"text":"hi"}`, 400, "to must be"},
		{"bad client id", alice, `{"to":202,"text":"hi","client_id":"a b"}`, 400, "client_id"},
		{"unknown field", alice, `{"to":202,"text":"hi","x":1}`, 400, ""},
		{"not json", alice, `to=202`, 400, ""},
		{"oversized", alice, `{"to":202,"text":"` + strings.Repeat("a", 1<<16) + `"}`, 413, ""},
	}
	for _, c := range cases {
		code, data, _ := h.call(c.from, "POST", "/api/im/messages", c.body)
		require.Equal(t, c.code, code, "%s: %s", c.name, data)
		require.Contains(t, string(data), c.says, c.name)
	}

	// Blocks and settings of the receiver.
	code, data, _ := h.call(bob, "PUT", fmt.Sprintf("/api/im/blocks/%d", alice), "")
	require.Equal(t, 200, code, "%s", data)
	code, _, _ = h.call(alice, "POST", "/api/im/messages", `{"to":202,"text":"hi"}`)
	require.Equal(t, 403, code)
	code, _, _ = h.call(bob, "DELETE", fmt.Sprintf("/api/im/blocks/%d", alice), "")
	require.Equal(t, 200, code)
	code, _, _ = h.call(bob, "DELETE", fmt.Sprintf("/api/im/blocks/%d", alice), "")
	require.Equal(t, 404, code)
	code, _, _ = h.call(bob, "PUT", "/api/im/settings", `{"allow":2}`)
	require.Equal(t, 200, code)
	code, data, _ = h.call(alice, "POST", "/api/im/messages", `{"to":202,"text":"hi"}`)
	require.Equal(t, 403, code)
	require.Contains(t, string(data), "accepts no private messages")
	code, _, _ = h.call(bob, "PUT", "/api/im/settings", `{"allow":3}`)
	require.Equal(t, 400, code)
	code, _, _ = h.call(bob, "PUT", "/api/im/settings", `{"allow":0}`)
	require.Equal(t, 200, code)

	h.send(alice, bob, "now fine", "")
	h.waitFor("stored", func() bool { return unread(h, bob) == 1 })
	require.Len(t, history(h, bob, alice, "").Items, 1, "nothing refused was stored")
}

func TestFloodIsLimited(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *chat.Config) { c.Rate, c.Burst = 1, 3 })
	for range 3 {
		h.send(alice, bob, "hi", "")
	}
	code, _, hdr := h.call(alice, "POST", "/api/im/messages", `{"to":202,"text":"hi"}`)
	require.Equal(t, 429, code)
	require.Equal(t, "1", hdr.Get("Retry-After"))
	h.send(carol, bob, "others are not limited", "")
	h.clock.Advance(time.Second)
	h.send(alice, bob, "one more", "")
}

func TestRecallAndDelete(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	m := h.send(alice, bob, "oops", "")
	keep := h.send(alice, bob, "keep", "")
	h.waitFor("stored", func() bool { return len(history(h, bob, alice, "").Items) == 2 })

	code, _, _ := h.call(bob, "POST", fmt.Sprintf("/api/im/messages/%d/recall", m.ID), "")
	require.Equal(t, 404, code, "only the sender recalls")
	code, data, _ := h.call(alice, "POST", fmt.Sprintf("/api/im/messages/%d/recall", m.ID), "")
	require.Equal(t, 200, code, "%s", data)
	got := history(h, bob, alice, "").Items
	require.True(t, got[1].Recalled)
	require.Empty(t, got[1].Text)
	recalls := h.delivered("IM_RECALL")
	require.Len(t, recalls, 1)
	require.ElementsMatch(t, []int64{alice, bob}, recalls[0].uids)

	h.clock.Advance(3 * time.Minute)
	code, _, _ = h.call(alice, "POST", fmt.Sprintf("/api/im/messages/%d/recall", keep.ID), "")
	require.Equal(t, 403, code, "too late")

	code, _, _ = h.call(bob, "DELETE", fmt.Sprintf("/api/im/messages/%d", keep.ID), "")
	require.Equal(t, 200, code)
	code, _, _ = h.call(bob, "DELETE", fmt.Sprintf("/api/im/messages/%d", keep.ID), "")
	require.Equal(t, 404, code)
	require.Len(t, history(h, bob, alice, "").Items, 1)
	require.Len(t, history(h, alice, bob, "").Items, 2, "the other side keeps it")
}

// The conversation list is paged by cursor and never lists a conversation twice.
func TestConversationPages(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	// Page alice's two conversations one at a time.
	h.send(bob, alice, "1", "")
	h.send(carol, alice, "2", "")
	h.waitFor("stored", func() bool { return unread(h, alice) == 2 })
	p1 := page(h, alice, "?limit=1")
	require.Len(t, p1.Items, 1)
	require.Equal(t, carol, p1.Items[0].Peer)
	require.NotEmpty(t, p1.Next)
	p2 := page(h, alice, "?limit=1&cursor="+p1.Next)
	require.Len(t, p2.Items, 1)
	require.Equal(t, bob, p2.Items[0].Peer)
	p3 := page(h, alice, "?limit=1&cursor="+p2.Next)
	require.Empty(t, p3.Items)
	require.Empty(t, p3.Next)
	code, _, _ := h.call(alice, "GET", "/api/im/conversations?cursor=garbage", "")
	require.Equal(t, 400, code)

	code, _, _ = h.call(alice, "PUT", fmt.Sprintf("/api/im/conversations/%d/mute", bob), `{"muted":true}`)
	require.Equal(t, 200, code)
	require.True(t, page(h, alice, "").Items[1].Muted)
	code, _, _ = h.call(alice, "PUT", fmt.Sprintf("/api/im/conversations/%d/mute", nobody), `{"muted":true}`)
	require.Equal(t, 404, code)
}

// MariaDB stopped under a running service: sends go on into the queue, checked against the
// last known blocks and settings, and land once it is back, each once.
func TestSendsLandAfterAStoreOutage(t *testing.T) {
	srv := sqltest.NewServer(t)
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{Driver: "mysql", DSN: srv.DSN("im")}, "")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	h := newHarness(t, db, nil)
	h.send(alice, bob, "before", "c-0")
	h.waitFor("stored", func() bool { return unread(h, bob) == 1 })

	srv.Stop()
	sent := map[int64]bool{}
	for i := 1; i <= 20; i++ {
		m := h.send(alice, bob, fmt.Sprint("during ", i), fmt.Sprint("c-", i))
		sent[m.ID] = true
	}
	code, _, _ := h.call(carol, "POST", "/api/im/messages", `{"to":202,"text":"never checked before"}`)
	require.Equal(t, 503, code, "a pair never checked is refused while the store is away")
	h.waitFor("delivered live meanwhile", func() bool { return len(h.delivered("IM_MSG")) >= 21 })
	srv.Start()

	h.waitFor("stored once back", func() bool { return unread(h, bob) == 21 })
	got := history(h, bob, alice, "?limit=100").Items
	require.Len(t, got, 21)
	for _, m := range got[:20] {
		require.True(t, sent[m.ID], "message %d was acknowledged during the outage", m.ID)
	}
	require.Positive(t, metric(h, "zhibo_im_settings_stale_total", ""))
}

// One text to too many people is spam: refused for anyone new until its window has passed,
// while the same text to those it reached, and other texts, go on.
func TestSameTextToManyIsSpam(t *testing.T) {
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *chat.Config) { c.SpamReceivers, c.SpamWindow = 2, 10*time.Minute })
	const dave, erin int64 = 204, 205
	h.users.Add(dave, erin)
	h.send(alice, bob, "buy followers at example.com", "")
	h.send(alice, carol, "buy followers at example.com", "")
	code, raw, _ := h.call(alice, "POST", "/api/im/messages", `{"to":204,"text":"buy followers at example.com"}`)
	require.Equal(t, 429, code, "%s", raw)
	require.Contains(t, string(raw), "-70012")
	h.send(alice, bob, "buy followers at example.com", "")  // bob had it already
	h.send(alice, dave, "hello dave", "")                   // another text
	h.send(carol, dave, "buy followers at example.com", "") // another sender
	require.Equal(t, 1.0, refused(t, h, "spam"))

	h.clock.Advance(10 * time.Minute)
	h.send(alice, erin, "buy followers at example.com", "")
	h.waitFor("stored", func() bool { return unread(h, erin) == 1 && unread(h, dave) == 2 })
	require.Len(t, history(h, dave, alice, "").Items, 1, "the refused text was not stored")
}

// refused is zhibo_im_refused_total{reason}.
func refused(t *testing.T, h *harness, reason string) float64 {
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "zhibo_im_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
