package lease

import (
	"context"
	"flag"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

// testConfig is short enough for tests and long enough that a loaded machine does not miss
// renewals: three renewals fit in a TTL.
var testConfig = Config{TTL: 2 * time.Second, Renew: 500 * time.Millisecond}

// cluster is a NATS server and a namespace that the test's nodes share, each node on its own
// connection as separate processes would be.
type cluster struct {
	url, ns string
	cfg     Config
}

func newCluster(t *testing.T, cfg Config) *cluster {
	url := queuetest.URL(t)
	c := &cluster{url: url, ns: queuetest.Namespace(t, url, "lease"), cfg: cfg}
	// Registered first, so it runs after every node's cleanup.
	t.Cleanup(func() {
		q, err := queue.Open(context.Background(), queue.Config{URL: c.url, Namespace: c.ns}, "", obs.Discard())
		if err != nil {
			return
		}
		defer q.Close()
		_ = q.JS.DeleteKeyValue(context.Background(), q.Stream(bucket.Name))
	})
	return c
}

type node struct {
	*Node
	q   *queue.Queue
	reg *prometheus.Registry
}

// node opens a connection of its own and a node on it; both end with the test.
func (c *cluster) node(t *testing.T, id string) *node {
	q, err := queue.Open(context.Background(), queue.Config{URL: c.url, Namespace: c.ns}, "", obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	reg := prometheus.NewRegistry()
	n, err := New(c.cfg, Deps{Queue: q, Logger: obs.Discard(), Registry: reg, ID: id})
	require.NoError(t, err)
	return &node{Node: n, q: q, reg: reg}
}

// start starts name on n, stopped (released) when the test ends.
func (n *node) start(t *testing.T, name string) *Lease {
	l := n.Lease(name)
	l.Start(context.Background())
	t.Cleanup(func() { _ = l.Stop(context.Background()) })
	return l
}

func (n *node) changes(name, change string) float64 {
	return testutil.ToFloat64(n.m.changes.WithLabelValues(name, change))
}

// holders counts the leases among ls held now.
func holders(ls ...*Lease) int {
	n := 0
	for _, l := range ls {
		if l.Held() {
			n++
		}
	}
	return n
}

// watchOverlap fails the test if two of ls are ever seen held at once while it runs; the
// returned stop ends the watch.
func watchOverlap(t *testing.T, ls ...*Lease) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	var overlap atomic.Bool
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if holders(ls...) > 1 {
				overlap.Store(true)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		require.False(t, overlap.Load(), "two nodes held the lease at once")
	}
}

func TestExactlyOneNodeHolds(t *testing.T) {
	c := newCluster(t, testConfig)
	a, b := c.node(t, "a"), c.node(t, "b")
	la, lb := a.start(t, "task"), b.start(t, "task")
	require.Equal(t, 1, holders(la, lb), "the first of two nodes to start holds at once")
	stop := watchOverlap(t, la, lb)
	// Several TTLs: the holder renews, the other keeps waiting.
	holder := la
	if lb.Held() {
		holder = lb
	}
	require.Never(t, func() bool { return !holder.Held() }, 2*testConfig.TTL, 20*time.Millisecond,
		"the holder lost a lease it kept renewing")
	stop()
	require.Equal(t, float64(1), a.changes("task", "acquired")+b.changes("task", "acquired"))
	h := testutil.ToFloat64(a.m.held.WithLabelValues("task")) + testutil.ToFloat64(b.m.held.WithLabelValues("task"))
	require.Equal(t, float64(1), h, "zhibo_lease_held")
}

func TestDeadHolderIsReplacedAfterTTL(t *testing.T) {
	c := newCluster(t, testConfig)
	a, b := c.node(t, "a"), c.node(t, "b")
	la := a.start(t, "task")
	require.True(t, la.Held())
	lb := b.start(t, "task")
	require.False(t, lb.Held())
	stop := watchOverlap(t, la, lb)

	// kill -9: a's connection is gone and nothing is released.
	died := time.Now()
	a.q.Close()
	require.Eventually(t, func() bool { return !la.Held() }, testConfig.TTL+5*time.Second, 10*time.Millisecond,
		"a holder that cannot renew kept acting past its ttl")
	require.Eventually(t, lb.Held, testConfig.TTL+testConfig.Renew+5*time.Second, 10*time.Millisecond,
		"nobody took over from a dead holder")
	t.Logf("taken over %s after the holder died", time.Since(died))
	stop()
	// a's hold ended by its clock (Held is false from then on); its loop records the loss at its
	// next step, which a busy machine may run after b has already taken over.
	require.Eventually(t, func() bool { return a.changes("task", "lost") == 1 }, 5*time.Second, 10*time.Millisecond,
		"the dead holder did not record its loss")
	require.Equal(t, float64(1), a.changes("task", "lost"))
	require.Equal(t, float64(1), b.changes("task", "acquired"))
}

func TestStopHandsOverAtOnce(t *testing.T) {
	cfg := Config{TTL: 10 * time.Second, Renew: 250 * time.Millisecond}
	c := newCluster(t, cfg)
	a, b := c.node(t, "a"), c.node(t, "b")
	la := a.start(t, "task")
	lb := b.start(t, "task")
	require.True(t, la.Held())
	stopped := time.Now()
	require.NoError(t, la.Stop(context.Background()))
	require.False(t, la.Held())
	require.Eventually(t, lb.Held, cfg.TTL/2, 10*time.Millisecond, "a released lease was not taken within ttl/2")
	t.Logf("handed over in %s", time.Since(stopped))
	require.Equal(t, float64(1), a.changes("task", "released"))
	require.NoError(t, la.Stop(context.Background()), "Stop again")
}

func TestLostLeaseStopsTheTask(t *testing.T) {
	c := newCluster(t, testConfig)
	a := c.node(t, "a")
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, "task", 50*time.Millisecond, func(context.Context) { runs.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return runs.Load() >= 3 }, 10*time.Second, 10*time.Millisecond, "the holder never ran the task")

	// Another writer takes the key: a's next renewal fails its compare-and-set.
	kv, err := a.bucket(context.Background())
	require.NoError(t, err)
	_, err = kv.PutString(context.Background(), "task", "intruder")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.changes("task", "lost") == 1 }, 10*time.Second, 10*time.Millisecond,
		"the holder did not notice it lost the key")
	// The intruder never renews, so a takes it back after a ttl; until then it must not run. One
	// run may still land after n is read: Run's goroutine may have passed Do's check just before
	// the loss and not yet called fn (it runs one Do at a time, so never more than one).
	n := runs.Load()
	require.Never(t, func() bool {
		// runs first: a run that follows the retake is counted after it (acquire counts under
		// the lock Do checks), so it cannot pass for a run before it.
		r := runs.Load()
		return r > n+1 && a.changes("task", "acquired") < 2
	}, testConfig.TTL/2, 10*time.Millisecond, "the task ran after its lease was lost")
	require.Eventually(t, func() bool { return a.changes("task", "acquired") == 2 && runs.Load() > n+1 },
		testConfig.TTL+testConfig.Renew+5*time.Second, 10*time.Millisecond, "the intruder's stale key was not taken over")
	// Do counts a run before calling fn: compare the two once Run has returned.
	cancel()
	<-done
	require.Equal(t, float64(runs.Load()), testutil.ToFloat64(a.m.runs.WithLabelValues("task")))
}

func TestRunContextEndsWithTheHold(t *testing.T) {
	c := newCluster(t, testConfig)
	a := c.node(t, "a")
	l := a.start(t, "task")
	started, ended := make(chan struct{}), make(chan struct{})
	go l.Do(context.Background(), func(ctx context.Context) { close(started); <-ctx.Done(); close(ended) })
	<-started
	kv, err := a.bucket(context.Background())
	require.NoError(t, err)
	_, err = kv.PutString(context.Background(), "task", "intruder")
	require.NoError(t, err)
	select {
	case <-ended:
	case <-time.After(testConfig.TTL + 5*time.Second):
		t.Fatal("a run went on after its lease was lost")
	}
}

func TestNilNodeAlwaysHolds(t *testing.T) {
	var n *Node
	l := n.Lease("task")
	l.Start(context.Background())
	require.True(t, l.Held())
	require.True(t, l.Do(context.Background(), func(context.Context) {}))
	require.NoError(t, l.Stop(context.Background()))
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for runs.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	n.Run(ctx, "task", time.Millisecond, func(context.Context) { runs.Add(1) })
	require.GreaterOrEqual(t, runs.Load(), int64(3))
}

func TestConfig(t *testing.T) {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), "lease.")
	require.NoError(t, c.Validate())
	require.Equal(t, 6*time.Second, c.TTL)
	require.Error(t, (&Config{TTL: time.Second, Renew: time.Second}).Validate(), "ttl under two renewals")
	require.Error(t, (&Config{TTL: time.Second, Renew: 0}).Validate())
}
