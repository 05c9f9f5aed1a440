package hotkey

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func newStarted(tb testing.TB, cfg Config) *Detector {
	tb.Helper()
	if cfg.ReportInterval == 0 {
		cfg.ReportInterval = 10 * time.Millisecond
	}
	d, err := New(cfg)
	require.NoError(tb, err)
	require.NoError(tb, d.Start(context.Background()))
	tb.Cleanup(func() { require.NoError(tb, d.Stop(context.Background())) })
	return d
}

func TestTopKOrderAndCounts(t *testing.T) {
	d, err := New(Config{K: 3, Seed: 1})
	require.NoError(t, err)
	for i := range 10 {
		d.Add("k"+strconv.Itoa(i), uint32(100*(i+1)))
	}
	d.Add("k9", 5)
	require.Equal(t, []Item{{"k9", 1005}, {"k8", 900}, {"k7", 800}}, d.TopK())
	d.Add("", 0) // zero counts are ignored
	require.Equal(t, uint64(5505), d.Stats().Events)
}

func TestPinAllowDeny(t *testing.T) {
	cfg := Config{K: 10, Seed: 1, Allow: []string{"room:*", "gift:7"}, Deny: []string{"room:13"}}
	d := newStarted(t, cfg)
	log := watch(d)
	for _, k := range []string{"room:1", "room:13", "gift:7", "gift:8", "user:1"} {
		d.Add(k, 1000)
	}
	require.ElementsMatch(t, []string{"room:1", "gift:7"}, keysOf(d.TopK()))
	require.Eventually(t, func() bool { return d.IsHot("room:1") && d.IsHot("gift:7") }, time.Second, 5*time.Millisecond)
	require.False(t, d.IsHot("room:13"), "denied")
	require.False(t, d.IsHot("gift:8"), "not allowed")

	// A pin makes any key hot at once, even a denied or never seen one, until it expires.
	d.Pin("room:13", time.Now().Add(time.Hour))
	d.Pin("event:1", time.Now().Add(50*time.Millisecond))
	require.True(t, d.IsHot("room:13"))
	require.True(t, d.IsHot("event:1"))
	require.NotContains(t, keysOf(d.TopK()), "room:13", "TopK lists detection only")
	require.Eventually(t, func() bool { _, ok := log.get(&log.added, "event:1"); return ok }, time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return !d.IsHot("event:1") }, time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { _, ok := log.get(&log.removed, "event:1"); return ok }, time.Second, 5*time.Millisecond)
	d.Unpin("room:13")
	require.False(t, d.IsHot("room:13"))
}

func keysOf(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func TestMinCount(t *testing.T) {
	d, err := New(Config{K: 10, MinCount: 50, Seed: 1})
	require.NoError(t, err)
	d.Add("a", 49)
	d.Add("b", 50)
	require.Equal(t, []Item{{"b", 50}}, d.TopK())
}

// TestConcurrentAdds runs adders, readers, pins and the reporter together under -race and checks
// that no count is lost: the per-P buffers all reach the sketch.
func TestConcurrentAdds(t *testing.T) {
	d := newStarted(t, Config{K: 20, Seed: 1, WindowEvents: 0})
	var wg sync.WaitGroup
	const workers, per = 4, 20_000
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				d.Add("hot:"+strconv.Itoa(i%10), 1)
				d.Add("w"+strconv.Itoa(w)+":"+strconv.Itoa(i), 1)
				if i%5000 == 0 {
					_ = d.TopK()
					_ = d.IsHot("hot:1")
					d.Pin("p"+strconv.Itoa(w), time.Now().Add(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	top := d.TopK()
	require.Equal(t, uint64(2*workers*per), d.Stats().Events)
	for i := range 10 {
		require.Contains(t, top, Item{Key: "hot:" + strconv.Itoa(i), Count: workers * per / 10})
	}
}

func TestStartStop(t *testing.T) {
	d, err := New(Config{Seed: 1})
	require.NoError(t, err)
	require.NoError(t, d.Stop(context.Background()), "stop before start is a no-op")
	d, err = New(Config{Seed: 1, ReportInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, d.Start(context.Background()))
	require.Error(t, d.Start(context.Background()))
	d.Add("a", 3)
	require.NoError(t, d.Stop(context.Background()))
	require.NoError(t, d.Stop(context.Background()))
	require.Equal(t, uint64(3), d.Stats().Events)
}

func TestConfigFlagsAndValidate(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "hotkey.")
	require.Equal(t, DefaultConfig(), cfg)
	require.NoError(t, fs.Parse([]string{"-hotkey.k=7", "-hotkey.window=2s", "-hotkey.deny=a, b*", "-hotkey.window_events=1000"}))
	require.Equal(t, 7, cfg.K)
	require.Equal(t, 2*time.Second, cfg.Window)
	require.Equal(t, uint64(1000), cfg.WindowEvents)
	require.Equal(t, []string{"a", "b*"}, cfg.Deny)
	fs.VisitAll(func(f *flag.Flag) {
		require.True(t, strings.HasPrefix(f.Name, "hotkey."), f.Name)
		require.NotEmpty(t, f.Usage)
	})
	require.NoError(t, cfg.Validate())
	require.NoError(t, (&Config{}).Validate(), "zero config means defaults")
	for _, bad := range []Config{{K: -1}, {Depth: 9}, {Decay: 0.5}, {Window: -1}, {Slots: -1}, {Deny: []string{"*"}}} {
		require.Error(t, bad.Validate(), "%+v", bad)
		_, err := New(bad)
		require.Error(t, err)
	}
}

func TestMemoryBudget(t *testing.T) {
	for _, k := range []int{10, 100} {
		d, err := New(accuracyConfig(k, true))
		require.NoError(t, err)
		for i := range k {
			d.Add("room:"+strconv.Itoa(1_000_000+i), 10)
		}
		_ = d.TopK()
		require.LessOrEqual(t, d.MemoryBytes(), 128<<10)
		require.Positive(t, d.Stats().BufferBytes)
	}
}

func TestMetricsTwoDetectorsOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newStarted(t, Config{Seed: 1, Name: "room", Registerer: reg})
	b := newStarted(t, Config{Seed: 1, Name: "gift", Registerer: reg})
	a.Add("x", 5)
	a.Pin("y", time.Now().Add(time.Hour))
	b.Add("z", 5)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(a.metrics.hotKeys) == 2 && testutil.ToFloat64(b.metrics.hotKeys) == 1
	}, time.Second, 5*time.Millisecond)
	n, err := testutil.GatherAndCount(reg, "hotkey_hot_keys")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = New(Config{Name: "room", Registerer: reg})
	require.Error(t, err, "same name twice collides")
}
