package hotkey

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func inTop(items []Item, key string) bool {
	return slices.ContainsFunc(items, func(it Item) bool { return it.Key == key })
}

// changeLog records OnChange deliveries with the wall time they arrived.
type changeLog struct {
	mu      sync.Mutex
	added   map[string]time.Time
	removed map[string]time.Time
}

func watch(d *Detector) *changeLog {
	l := &changeLog{added: map[string]time.Time{}, removed: map[string]time.Time{}}
	d.OnChange(func(added, removed []string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, k := range added {
			l.added[k] = time.Now()
		}
		for _, k := range removed {
			l.removed[k] = time.Now()
		}
	})
	return l
}

func (l *changeLog) get(m *map[string]time.Time, key string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := (*m)[key]
	return at, ok
}

// TestWindowSuddenAndCooledKey warms a detector on a Zipf stream, then a new key takes 2 % of
// traffic: it must be in TopK within 40 k events and announced by OnChange within 1 s. After it
// stops, it must leave TopK within 100 k events and OnChange must report it removed.
func TestWindowSuddenAndCooledKey(t *testing.T) {
	const (
		warm        = 200_000
		suddenLimit = 40_000
		coolLimit   = 100_000
		every       = 50 // 1 event in 50 = 2 %
		key         = "sudden"
	)
	for _, s := range []float64{0.8, 1.0, 1.2} {
		z := genZipf(t, s, 300_000, 500_000, 3)
		for _, k := range []int{10, 100} {
			t.Run(fmt.Sprintf("s=%.1f/K=%d", s, k), func(t *testing.T) {
				cfg := accuracyConfig(k, true)
				cfg.Window = time.Hour // only the event window acts here
				d, err := New(cfg)
				require.NoError(t, err)
				log := watch(d)
				require.NoError(t, d.Start(context.Background()))
				t.Cleanup(func() { require.NoError(t, d.Stop(context.Background())) })

				pos := 0
				next := func() string { r := z.events[pos%len(z.events)]; pos++; return z.keys[r] }
				for range warm {
					d.Add(next(), 1)
				}
				require.False(t, inTop(d.TopK(), key))

				start := time.Now()
				found := -1
				for i := 1; i <= suddenLimit; i++ {
					if i%every == 0 {
						d.Add(key, 1)
					} else {
						d.Add(next(), 1)
					}
					if found < 0 && i%500 == 0 && inTop(d.TopK(), key) {
						found = i
					}
				}
				require.Positive(t, found, "sudden key not in TopK after %d events", suddenLimit)
				require.Eventually(t, func() bool { _, ok := log.get(&log.added, key); return ok },
					time.Second, 5*time.Millisecond)
				at, _ := log.get(&log.added, key)
				t.Logf("sudden key in TopK after %d events; OnChange after %v", found, at.Sub(start).Round(time.Millisecond))
				require.LessOrEqual(t, at.Sub(start), time.Second)

				for i := range 100_000 { // steady state at 2 %
					if i%every == 0 {
						d.Add(key, 1)
					} else {
						d.Add(next(), 1)
					}
				}
				require.True(t, inTop(d.TopK(), key))
				gone := -1
				for i := 1; i <= coolLimit; i++ {
					d.Add(next(), 1)
					if i%500 == 0 && !inTop(d.TopK(), key) {
						gone = i
						break
					}
				}
				require.Positive(t, gone, "cooled key still in TopK %d events after it stopped", coolLimit)
				t.Logf("cooled key out of TopK after %d events", gone)
				require.Eventually(t, func() bool { _, ok := log.get(&log.removed, key); return ok },
					time.Second, 5*time.Millisecond)
			})
		}
	}
}

// TestWindowByTime checks the wall-time window alone: with no event window, a key that stops
// fades out within a few windows even when nothing else arrives.
func TestWindowByTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WindowEvents = 0
	cfg.Window = 200 * time.Millisecond
	cfg.ReportInterval = 10 * time.Millisecond
	cfg.Seed = 1
	d, err := New(cfg)
	require.NoError(t, err)
	log := watch(d)
	require.NoError(t, d.Start(context.Background()))
	defer func() { require.NoError(t, d.Stop(context.Background())) }()
	d.Add("a", 1000)
	require.Eventually(t, func() bool { return d.IsHot("a") }, time.Second, 5*time.Millisecond)
	// 1000 halves to 0 in 10 steps of 50 ms.
	require.Eventually(t, func() bool { return !d.IsHot("a") }, 3*time.Second, 10*time.Millisecond)
	_, ok := log.get(&log.removed, "a")
	require.Eventually(t, func() bool { _, ok = log.get(&log.removed, "a"); return ok }, time.Second, 5*time.Millisecond)
	require.Empty(t, d.TopK())
	require.GreaterOrEqual(t, d.Stats().Agings, uint64(10))
}
