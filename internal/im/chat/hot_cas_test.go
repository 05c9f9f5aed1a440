package chat

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/cache/cachetest"
)

func testTier(t *testing.T, capacity int) *hotTier {
	r := cachetest.Open(t, "cas")
	return newHotTier(r.Client(), r.Prefix(), capacity, 600, time.Hour)
}

// Updates replayed late, twice and in any order, from several writers at once, leave every
// conversation and total at its newest version.
func TestHotTierOutOfOrderReplay(t *testing.T) {
	h := testTier(t, 1000)
	ctx := context.Background()
	const users, peers, versions = 4, 50, 40
	for u := int64(1); u <= users; u++ { // in the tier, empty
		require.NoError(t, h.c.Do(ctx, h.c.B().Set().Key(h.key(u, "w")).Value("1").Build()).Error())
	}
	state := func(u, p, v int64) ConvState {
		return ConvState{UID: u, Version: v, Conversation: Conversation{Peer: p, LastID: v * 10, Mtime: 1000 + v, Unread: v % 7, ReadID: v}}
	}
	var convs []ConvState
	var totals []Total
	for u := int64(1); u <= users; u++ {
		for v := int64(1); v <= versions; v++ {
			totals = append(totals, Total{UID: u, Total: v * 3, Version: v})
			for p := int64(1); p <= peers; p++ {
				convs = append(convs, state(u, 100+p, v))
			}
		}
	}
	convs = append(convs, convs[:len(convs)/3]...) // some delivered twice
	rand.Shuffle(len(convs), func(i, j int) { convs[i], convs[j] = convs[j], convs[i] })
	rand.Shuffle(len(totals), func(i, j int) { totals[i], totals[j] = totals[j], totals[i] })
	var wg sync.WaitGroup
	const writers = 4
	for w := range writers {
		wg.Go(func() {
			for i := w * 100; i < len(convs); i += writers * 100 {
				var ts []Total
				if i/100 < len(totals) {
					ts = totals[i/100 : i/100+1]
				}
				_, err := h.apply(ctx, convs[i:min(i+100, len(convs))], ts)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	_, err := h.apply(ctx, nil, totals) // every total at least once
	require.NoError(t, err)
	for u := int64(1); u <= users; u++ {
		got, err := h.page(ctx, u, Cursor{}, 1000)
		require.NoError(t, err)
		require.Len(t, got, peers)
		for _, c := range got {
			require.Equal(t, state(u, c.Peer, versions).Conversation, c, "user %d peer %d", u, c.Peer)
		}
		n, err := h.unread(ctx, u)
		require.NoError(t, err)
		require.EqualValues(t, versions*3, n)
	}
}

// Past its capacity the tier keeps a user's newest conversations, says it holds only those,
// and still refuses an older state of one it dropped.
func TestHotTierCapacity(t *testing.T) {
	h := testTier(t, 10)
	ctx := context.Background()
	require.NoError(t, h.c.Do(ctx, h.c.B().Set().Key(h.key(7, "w")).Value("1").Build()).Error())
	for p := int64(1); p <= 15; p++ {
		_, err := h.apply(ctx, []ConvState{{UID: 7, Version: 5, Conversation: Conversation{Peer: p, LastID: p, Mtime: p}}}, nil)
		require.NoError(t, err)
	}
	got, err := h.page(ctx, 7, Cursor{}, 10)
	require.NoError(t, err)
	require.Len(t, got, 10)
	require.EqualValues(t, 15, got[0].Peer)
	_, err = h.page(ctx, 7, Cursor{Mtime: 6, Peer: 6}, 10)
	require.ErrorIs(t, err, errDeep, "the dropped conversations are the store's to list")
	// A late, older state of dropped peer 1 does not come back.
	_, err = h.apply(ctx, []ConvState{{UID: 7, Version: 4, Conversation: Conversation{Peer: 1, LastID: 1, Mtime: 99}}}, nil)
	require.NoError(t, err)
	got, err = h.page(ctx, 7, Cursor{}, 10)
	require.NoError(t, err)
	require.EqualValues(t, 15, got[0].Peer)
	// A user not in the tier is not written.
	cold, err := h.apply(ctx, []ConvState{{UID: 8, Version: 1, Conversation: Conversation{Peer: 1}}}, []Total{{UID: 8, Total: 1, Version: 1}})
	require.NoError(t, err)
	require.Equal(t, []int64{8}, cold)
	_, err = h.page(ctx, 8, Cursor{}, 10)
	require.ErrorIs(t, err, errCold)
}
