package hotkey

import (
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInboxesLoseNothing forces shard ownership on (whatever GOMAXPROCS is) and checks that every
// add reaches the sketch exactly once, whether an owner applies its inbox, a full inbox is applied
// by the stripe that found it full (one goroutine: the other owners have no stripe adding), or
// TopK applies what is left.
func TestInboxesLoseNothing(t *testing.T) {
	for _, tc := range []struct{ owners, goroutines int }{{2, 1}, {numShards, 1}, {2, 2}, {numShards, 4}} {
		t.Run("owners="+strconv.Itoa(tc.owners)+"/goroutines="+strconv.Itoa(tc.goroutines), func(t *testing.T) {
			d, err := New(Config{K: 40, Seed: 3, Width: 1 << 14, WindowEvents: 0, Window: 0})
			require.NoError(t, err)
			d.slots = make([]ownerSlot, tc.owners)
			const rounds = 300
			var wg sync.WaitGroup
			for g := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds {
						for i := range 40 {
							d.Add("k"+strconv.Itoa(i), uint32(i+1))
						}
						// Distinct filler keys fill the stripes so they merge often.
						for i := range 100 {
							d.Add("f"+strconv.Itoa(g)+":"+strconv.Itoa(r*100+i), 1)
						}
					}
				}()
			}
			wg.Wait()
			top := d.TopK()
			require.Positive(t, d.sk.inboxBytes(), "keys were handed between owners")
			for i := range 40 {
				want := uint64(tc.goroutines * rounds * (i + 1))
				require.Contains(t, top, Item{Key: "k" + strconv.Itoa(i), Count: want})
			}
			require.Equal(t, uint64(tc.goroutines*rounds*(40*41/2+100)), d.Stats().Events)
			for i := range d.sk.shards {
				require.Zero(t, d.sk.shards[i].in.n.Load(), "TopK applied every inbox")
			}
		})
	}
}

// TestOwnerSlotLease checks that a stripe keeps the slot it merges with, that a stripe finding
// every slot held gets none, and that a slot whose holder stopped merging passes to another
// stripe after leaseEvents.
func TestOwnerSlotLease(t *testing.T) {
	d, err := New(Config{Seed: 1})
	require.NoError(t, err)
	d.slots = make([]ownerSlot, 2)
	a, b, c := &stripe{slot: -1}, &stripe{slot: -1}, &stripe{slot: -1}
	require.Equal(t, 0, d.claim(a))
	require.Equal(t, 1, d.claim(b))
	require.Equal(t, -1, d.claim(c), "both slots held")
	d.events.Add(leaseEvents)
	require.Equal(t, 0, d.claim(a), "a renews its slot")
	require.Equal(t, -1, d.claim(c), "b's lease has not run out yet")
	d.events.Add(1)
	require.Equal(t, 1, d.claim(c), "b stopped merging: its slot is free")
	require.Equal(t, -1, d.claim(b), "b lost it")
	require.Equal(t, 0, d.claim(a))
	require.True(t, d.owns(1, false, 3) && !d.owns(1, false, 2) && !d.owns(-1, false, 1) && d.owns(-1, true, 1))
}
