package chat_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// metric is the value of a counter with one label ("" for a counter without labels).
func metric(h *harness, name, label string) float64 {
	mfs, err := h.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if ls := m.GetLabel(); (len(ls) == 0 && label == "") || (len(ls) > 0 && ls[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func reads(h *harness, source string) float64 { return metric(h, "zhibo_im_reads_total", source) }

// A user's list and unread total come from the hot tier once a read has put the user in it,
// follow every later change through the change stream, and match the store.
func TestHotTierFollowsTheStore(t *testing.T) {
	h, _ := newHarnessHot(t, sqltest.OpenSQLite(t), nil)
	h.send(alice, bob, "one", "")
	h.send(carol, bob, "two", "")
	h.waitFor("stored", func() bool { return unread(h, bob) == 2 })
	first := page(h, bob, "")
	require.Len(t, first.Items, 2)
	h.waitFor("bob in the hot tier", func() bool { return page(h, bob, "").Source == "hot" })
	hot := page(h, bob, "")
	require.Equal(t, first.Items, hot.Items)

	// New messages, a read and a mute reach the tier through the change stream.
	h.clock.Advance(time.Millisecond)
	m := h.send(alice, bob, "three", "")
	h.waitFor("the new message in the hot list", func() bool {
		p := page(h, bob, "")
		return p.Source == "hot" && p.Items[0].Peer == alice && p.Items[0].LastID == m.ID && p.Items[0].Unread == 2
	})
	require.EqualValues(t, 3, unread(h, bob))
	code, _, _ := h.call(bob, "POST", fmt.Sprintf("/api/im/conversations/%d/read", alice), jsonBody(map[string]int64{"read_id": m.ID}))
	require.Equal(t, 200, code)
	code, _, _ = h.call(bob, "PUT", fmt.Sprintf("/api/im/conversations/%d/mute", carol), `{"muted":true}`)
	require.Equal(t, 200, code)
	h.waitFor("the read and the mute in the hot list", func() bool {
		p := page(h, bob, "")
		// Muted, carol's conversation keeps its unread message out of the badge.
		return p.Source == "hot" && p.Items[0].Unread == 0 && p.Items[1].Muted && p.Items[1].Unread == 1 && unread(h, bob) == 0
	})
	require.Equal(t, "three", page(h, bob, "").Items[0].Last.Text)
	require.Positive(t, reads(h, "hot"))
}

// Redis emptied under a running service: reads fall back to the store at once, and the tier
// fills again.
func TestHotTierRedisFlushed(t *testing.T) {
	h, r := newHarnessHot(t, sqltest.OpenSQLite(t), nil)
	m := h.send(alice, bob, "one", "")
	h.waitFor("stored", func() bool { return unread(h, bob) == 1 })
	page(h, bob, "")
	h.waitFor("hot", func() bool { return page(h, bob, "").Source == "hot" && syncPage(h, bob, 0, 10).Source == "hot" })
	ctx := context.Background()
	keys, err := r.Client().Do(ctx, r.Client().B().Keys().Pattern(r.Prefix()+"*").Build()).AsStrSlice()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	require.NoError(t, r.Client().Do(ctx, r.Client().B().Del().Key(keys...).Build()).Error())
	// The first read after it is the store's; it starts a warm, so the next may be either.
	sp := syncPage(h, bob, 0, 10)
	require.Equal(t, "store", sp.Source)
	require.Equal(t, []int64{m.ID}, idsOf(sp.Items))
	require.Len(t, page(h, bob, "").Items, 1)
	require.EqualValues(t, 1, unread(h, bob))
	h.waitFor("hot again", func() bool { return page(h, bob, "").Source == "hot" })
	h.waitFor("the timeline hot again", func() bool {
		sp := syncPage(h, bob, 0, 10)
		return sp.Source == "hot" && len(sp.Items) == 1 && sp.Items[0].Text == "one"
	})
}

// A user with many conversations is put in the tier when a message for them is stored, before
// any read; the tier keeps the newest hot_conversations and sends deeper pages to the store.
func TestHotTierPrewarmAndCap(t *testing.T) {
	h, _ := newHarnessHot(t, sqltest.OpenSQLite(t), func(c *chat.Config) { c.WarmThreshold, c.HotConversations = 2, 10 })
	var senders []int64
	for i := int64(1); i <= 14; i++ {
		senders = append(senders, 5000+i)
	}
	h.users.Add(senders...)
	for _, u := range senders[:13] {
		h.clock.Advance(time.Millisecond)
		h.send(u, bob, "hi", "")
	}
	h.waitFor("stored", func() bool { return unread(h, bob) == 13 })
	// Bob may have been found below the threshold early on; that is checked again after a minute.
	h.clock.Advance(time.Minute)
	h.send(senders[13], bob, "hi", "")
	h.waitFor("pre-warmed", func() bool {
		return metric(h, "zhibo_im_hot_warms_total", "prewarm") >= 1
	})
	// Warmed without a read: every read is answered by the tier, which trails the store by
	// the change stream's delay.
	before := reads(h, "store")
	var p chat.Page
	h.waitFor("the newest conversation in the tier", func() bool {
		p = page(h, bob, "?limit=10")
		require.Equal(t, "hot", p.Source)
		return p.Items[0].Peer == senders[13]
	})
	require.Equal(t, before, reads(h, "store"))
	require.Len(t, p.Items, 10)
	require.Equal(t, senders[13], p.Items[0].Peer)
	deep := page(h, bob, "?limit=10&cursor="+p.Next)
	require.Equal(t, "store", deep.Source, "past the newest 10")
	require.Len(t, deep.Items, 4)
	require.Equal(t, senders[3], deep.Items[0].Peer)
}
