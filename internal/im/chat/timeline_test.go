package chat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// A chat's history and a client's sync are answered by the hot tier's timeline once a read has
// put the user in it, the same as the store answers them; a new message, a delete for me and a
// recall show there; pages reaching below the newest hot_timeline entries read the store.
func TestTimelineTierServesHistoryAndSync(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h, _ := newHarnessHot(t, db, func(c *chat.Config) { c.HotTimeline = 10 })
		var sent []chat.Message
		for i := range 12 {
			from := alice
			if i%3 == 2 {
				from = carol
			}
			h.clock.Advance(time.Millisecond)
			sent = append(sent, h.send(from, bob, fmt.Sprintf("m%d", i), ""))
		}
		h.waitFor("stored", func() bool { return unread(h, bob) == 12 })
		cold := syncPage(h, bob, 0, 100)
		require.Equal(t, "store", cold.Source)
		require.Equal(t, idsOf(sent), idsOf(cold.Items))
		coldChat := history(h, bob, alice, "?limit=3")
		h.waitFor("bob's timeline in the tier", func() bool { return syncPage(h, bob, sent[1].ID, 100).Source == "hot" })

		// The newest 10 entries are held: a sync from the third message on, and history pages
		// within them, come from the tier and equal the store's answers.
		hot := syncPage(h, bob, sent[1].ID, 100)
		require.Equal(t, idsOf(sent[2:]), idsOf(hot.Items))
		require.Equal(t, cold.Items[2:], hot.Items)
		hotChat := history(h, bob, alice, "?limit=3")
		require.Equal(t, "hot", hotChat.Source)
		require.Equal(t, coldChat.Items, hotChat.Items)
		require.Equal(t, "store", syncPage(h, bob, sent[0].ID, 100).Source, "the second message is the floor: the first is not held")
		require.Equal(t, "store", history(h, bob, alice, "?limit=20").Source, "the page reaches below the floor")
		paged := syncPage(h, bob, sent[1].ID, 4)
		require.Equal(t, "hot", paged.Source)
		require.Equal(t, idsOf(sent[2:6]), idsOf(paged.Items))

		// A new message reaches the tier through the change stream; the oldest leaves it.
		h.clock.Advance(time.Millisecond)
		m := h.send(alice, bob, "new", "")
		h.waitFor("the new message in the hot sync", func() bool {
			p := syncPage(h, bob, sent[11].ID, 100)
			return p.Source == "hot" && len(p.Items) == 1 && p.Items[0].ID == m.ID
		})
		require.Equal(t, "store", syncPage(h, bob, sent[1].ID, 100).Source, "the floor rose to the third message")

		// Delete for me: gone from bob's hot reads at once, kept on alice's side.
		code, _, _ := h.call(bob, "DELETE", fmt.Sprintf("/api/im/messages/%d", m.ID), "")
		require.Equal(t, 200, code)
		p := syncPage(h, bob, sent[11].ID, 100)
		require.Equal(t, "hot", p.Source)
		require.Empty(t, p.Items)
		require.Equal(t, m.ID, history(h, alice, bob, "?limit=1").Items[0].ID)

		// Recall: the blank text in the tier's answer.
		code, _, _ = h.call(sent[11].From, "POST", fmt.Sprintf("/api/im/messages/%d/recall", sent[11].ID), "")
		require.Equal(t, 200, code)
		p = syncPage(h, bob, sent[10].ID, 100)
		require.Equal(t, "hot", p.Source)
		require.Len(t, p.Items, 1)
		require.True(t, p.Items[0].Recalled)
		require.Empty(t, p.Items[0].Text)
	})
}
