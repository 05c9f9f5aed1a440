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
			d.owners = tc.owners
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
