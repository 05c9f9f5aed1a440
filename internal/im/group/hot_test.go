package group_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/platform/cache/cachetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func idsOf(ms []group.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// A group's history comes from the hot tier, fed from the queue, and equals the store's: the
// newest hot_messages whole, older pages from the store; a member's page starts at their join; a
// recall shows there; Redis emptied, reads fall back to the store and a build brings the group
// back.
func TestGroupHotTier(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		r := cachetest.Open(t, "imgh")
		h := newHarnessOn(t, db, func(c *group.Config) { c.HotMessages = 10 }, r)
		var g group.Group
		require.Equal(t, 200, h.call(owner, "POST", "/api/im/groups", map[string]any{"name": "fans", "members": []int64{ann}}, &g))
		var sent []group.Message
		for i := range 12 {
			h.clock.Advance(time.Millisecond)
			sent = append(sent, h.send([]int64{owner, ann}[i%2], g.ID, fmt.Sprintf("m%d", i), ""))
		}
		newest := func(ms []group.Message, n int) []int64 { // newest first
			var out []int64
			for i := len(ms) - 1; i >= 0 && len(out) < n; i-- {
				out = append(out, ms[i].ID)
			}
			return out
		}
		require.Eventually(t, func() bool {
			p := h.historyPage(ann, g.ID, "?limit=5")
			return p.Source == "hot" && len(p.Items) == 5 && p.Items[0].ID == sent[11].ID
		}, 10*time.Second, 5*time.Millisecond, "the newest page from the tier")
		// The store has every message before it is compared.
		require.Eventually(t, func() bool { return len(h.historyPage(ann, g.ID, "?limit=50").Items) == 12 }, 10*time.Second, 5*time.Millisecond)
		hot := h.historyPage(ann, g.ID, "?limit=5")
		require.Equal(t, newest(sent, 5), idsOf(hot.Items))
		require.Equal(t, "m11", hot.Items[0].Text)
		require.Equal(t, "hot", h.historyPage(ann, g.ID, fmt.Sprintf("?limit=5&before=%d", sent[7].ID)).Source)
		deep := h.historyPage(ann, g.ID, "?limit=50")
		require.Equal(t, "store", deep.Source, "past the newest 10")
		require.Equal(t, newest(sent, 12), idsOf(deep.Items))
		require.Equal(t, hot.Items, deep.Items[:5], "the tier answers as the store does")

		// Ben joins: his page starts after his join, whole from the tier.
		require.Equal(t, 200, h.call(owner, "POST", fmt.Sprintf("/api/im/groups/%d/members", g.ID), map[string][]int64{"uids": {ben}}, nil))
		p := h.historyPage(ben, g.ID, "?limit=50")
		require.Equal(t, "hot", p.Source)
		require.Empty(t, p.Items)
		h.clock.Advance(time.Millisecond)
		m := h.send(ben, g.ID, "hello", "")
		require.Eventually(t, func() bool {
			p := h.historyPage(ben, g.ID, "?limit=50")
			return p.Source == "hot" && len(p.Items) == 1 && p.Items[0].ID == m.ID
		}, 10*time.Second, 5*time.Millisecond)

		// A recall: blank in the tier's answer, for good.
		require.Eventually(t, func() bool { // once stored: the tier may have it first
			return h.call(ben, "POST", fmt.Sprintf("/api/im/group-messages/%d/recall", m.ID), nil, nil) == 200
		}, 10*time.Second, 5*time.Millisecond)
		p = h.historyPage(ann, g.ID, "?limit=1")
		require.Equal(t, "hot", p.Source)
		require.True(t, p.Items[0].Recalled)
		require.Empty(t, p.Items[0].Text)

		// Redis emptied: the store answers at once, and a read builds the group's list again.
		ctx := context.Background()
		keys, err := r.Client().Do(ctx, r.Client().B().Keys().Pattern(r.Prefix()+"*").Build()).AsStrSlice()
		require.NoError(t, err)
		require.NotEmpty(t, keys)
		require.NoError(t, r.Client().Do(ctx, r.Client().B().Del().Key(keys...).Build()).Error())
		p = h.historyPage(ann, g.ID, "?limit=5")
		require.Equal(t, "store", p.Source)
		require.Len(t, p.Items, 5)
		require.True(t, p.Items[0].Recalled)
		require.Eventually(t, func() bool {
			p := h.historyPage(ann, g.ID, "?limit=5")
			return p.Source == "hot" && len(p.Items) == 5 && p.Items[0].ID == m.ID && p.Items[0].Recalled
		}, 10*time.Second, 5*time.Millisecond, "built again from the store")
	})
}
