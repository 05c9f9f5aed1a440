package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/lease/leasetest"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/presence"
)

// routed is a job that finds its comets through presence, with the fake comets it dialled.
type routed struct {
	*Service
	q      *queue.Queue
	p      *presence.Table
	dialMu sync.Mutex
	comets map[string]*fakeComet // by address
}

func startRouted(t *testing.T, c Config) *routed {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "r"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	t.Cleanup(q.Close)
	p, err := presence.Open(context.Background(), q, obs.Discard())
	require.NoError(t, err)
	r := &routed{q: q, p: p, comets: map[string]*fakeComet{}}
	s, err := New(c, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Queue: q, Presence: p,
		Dial: func(addr string) (Comet, error) {
			r.dialMu.Lock()
			defer r.dialMu.Unlock()
			if addr == "unreachable:9100" {
				return nil, errors.New("no route")
			}
			fc := newComet()
			r.comets[addr] = fc
			return fc, nil
		}})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	r.Service = s
	return r
}

func (r *routed) comet(t *testing.T, addr string) *fakeComet {
	t.Helper()
	var fc *fakeComet
	require.Eventually(t, func() bool {
		r.dialMu.Lock()
		defer r.dialMu.Unlock()
		fc = r.comets[addr]
		return fc != nil
	}, 10*time.Second, 5*time.Millisecond, "comet %s never found", addr)
	return fc
}

func (r *routed) report(t *testing.T, server string, rooms map[int64]int64) {
	require.NoError(t, r.p.Put(context.Background(), presence.Report{Server: server, Addr: server + ":9100", Rooms: rooms}))
}

// A room's batches go only to the comets that hold it; a comet is found by its report without
// a restart; a join routes a room to a comet before its next report.
func TestRoutesRoomsToTheirComets(t *testing.T) {
	r := startRouted(t, cfg())
	r.report(t, "a", map[int64]int64{1: 3})
	r.report(t, "b", map[int64]int64{2: 1})
	a, b := r.comet(t, "a:9100"), r.comet(t, "b:9100")
	r.report(t, "c", map[int64]int64{}) // found later: used at once
	c := r.comet(t, "c:9100")
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.route.view.Comets()) == 3 }, 5*time.Second, 5*time.Millisecond)

	publish(t, r.q, 1, "one")
	publish(t, r.q, 2, "two")
	require.Eventually(t, func() bool {
		g1, _ := a.received(1)
		g2, _ := b.received(2)
		return len(g1) == 1 && len(g2) == 1
	}, 10*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	g, _ := a.received(2)
	require.Empty(t, g, "a holds no viewer of room 2")
	g, _ = b.received(1)
	require.Empty(t, g, "b holds no viewer of room 1")
	for _, room := range []int64{1, 2} {
		g, _ = c.received(room)
		require.Empty(t, g, "c holds nobody")
	}

	require.NoError(t, r.p.Join(context.Background(), "c", 1))
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.route.view.Holds("c", 1) }, 5*time.Second, 5*time.Millisecond)
	publish(t, r.q, 1, "after join")
	require.Eventually(t, func() bool { g, _ := c.received(1); return len(g) > 0 && g[len(g)-1] == "after join" }, 10*time.Second, 5*time.Millisecond,
		"(a message published within replayMargin before the join may come first)")
	users := [][]byte{[]byte("{}")}
	r.mu.Lock()
	r.fanout(r.senders, nil, func(ctx context.Context, cm Comet) error { return cm.PushUsers(ctx, []int64{9}, users) })
	r.mu.Unlock()
	for _, fc := range []*fakeComet{a, b, c} {
		require.Eventually(t, func() bool { fc.mu.Lock(); defer fc.mu.Unlock(); return len(fc.users) == 1 }, 5*time.Second, 5*time.Millisecond,
			"pushes to users go to every comet")
	}
}

// A join that reaches the job after a batch of the room already skipped the comet (the
// routing catching up) gets that batch replayed, so the new viewer misses nothing published
// after it joined; a batch published well before the join is not replayed.
func TestLateJoinReplaysMissedBatches(t *testing.T) {
	r := startRouted(t, cfg())
	r.report(t, "a", map[int64]int64{1: 1})
	r.report(t, "b", map[int64]int64{})
	a, b := r.comet(t, "a:9100"), r.comet(t, "b:9100")
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.route.view.Comets()) == 2 }, 5*time.Second, 5*time.Millisecond)

	publish(t, r.q, 1, "old")
	require.Eventually(t, func() bool { g, _ := a.received(1); return len(g) == 1 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(600 * time.Millisecond) // "old" is now more than replayMargin before the join
	joined := time.Now()
	publish(t, r.q, 1, "new")
	require.Eventually(t, func() bool { g, _ := a.received(1); return len(g) == 2 }, 10*time.Second, 5*time.Millisecond)
	g, _ := b.received(1)
	require.Empty(t, g)

	r.applyPresence(presence.Event{Server: "b", Join: true, Room: 1, At: joined}) // arrives late
	require.Eventually(t, func() bool { g, _ := b.received(1); return len(g) == 1 }, 5*time.Second, 5*time.Millisecond)
	g, _ = b.received(1)
	require.Equal(t, []string{"new"}, g, "what was published after the join, and only that")
	r.applyPresence(presence.Event{Server: "b", Join: true, Room: 1, At: joined})
	time.Sleep(100 * time.Millisecond)
	g, _ = b.received(1)
	require.Len(t, g, 1, "a batch is replayed to a comet once")
}

// A comet whose report is stale gets every room (nothing is known for sure), and one that
// never reported (a fixed comet from peers.comets) likewise.
func TestStaleAndUnknownCometsGetEverything(t *testing.T) {
	c := cfg()
	c.RouteStale = 300 * time.Millisecond
	r := startRouted(t, c)
	r.report(t, "a", map[int64]int64{1: 1})
	r.report(t, "unreachable", map[int64]int64{}) // its dial fails: logged, nothing breaks
	a := r.comet(t, "a:9100")
	fixed := newComet()
	r.mu.Lock()
	r.newSender(fixed, "fixed:9100")
	r.mu.Unlock()
	publish(t, r.q, 5, "to nobody's room")
	require.Eventually(t, func() bool { g, _ := fixed.received(5); return len(g) == 1 }, 10*time.Second, 5*time.Millisecond)
	g, _ := a.received(5)
	require.Empty(t, g, "a's fresh report does not have room 5")

	time.Sleep(400 * time.Millisecond) // a's report is now stale
	publish(t, r.q, 5, "again")
	require.Eventually(t, func() bool { g, _ := a.received(5); return len(g) == 1 }, 10*time.Second, 5*time.Millisecond)
}

// BenchmarkRouting measures what routing saves: 8 comets, 200 rooms spread over them (each
// room's viewers on 2 comets), one message to every room per round. It reports the room
// batches and messages each comet received per round without routing (every comet gets every
// room) and with it (each comet gets the quarter of the rooms it holds).
//
//	go test -run '^$' -bench Routing -benchtime 20x ./internal/job
func BenchmarkRouting(b *testing.B) {
	for _, routing := range []bool{false, true} {
		b.Run(fmt.Sprintf("routing=%v", routing), func(b *testing.B) {
			q, err := queue.Open(context.Background(), queue.Config{Namespace: "rb"}, b.TempDir(), obs.Discard())
			require.NoError(b, err)
			defer q.Close()
			p, err := presence.Open(context.Background(), q, obs.Discard())
			require.NoError(b, err)
			const comets, rooms = 8, 200
			fakes := map[string]*fakeComet{}
			var fixed []Comet
			for i := range comets {
				addr := fmt.Sprintf("c%d:9100", i)
				fakes[addr] = newComet()
				held := map[int64]int64{}
				for room := int64(1); room <= rooms; room++ {
					if int(room)%comets == i || int(room+1)%comets == i {
						held[room] = 10
					}
				}
				require.NoError(b, p.Put(context.Background(), presence.Report{Server: fmt.Sprintf("c%d", i), Addr: addr, Rooms: held}))
				fixed = append(fixed, namedComet{fakes[addr], addr})
			}
			deps := Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Queue: q, Comets: fixed}
			if routing {
				deps.Presence = p
			}
			c := cfg()
			c.CometQueue = 1 << 16 // a burst of 200 quiet rooms at once must not overflow it
			s, err := New(c, deps)
			require.NoError(b, err)
			require.NoError(b, s.Start(context.Background()))
			defer s.Stop(context.Background())
			b.ResetTimer()
			for i := range b.N {
				for room := int64(1); room <= rooms; room++ {
					publish(b, q, room, fmt.Sprint(i))
				}
			}
			holds := func(i int, room int64) bool { return int(room)%comets == i || int(room+1)%comets == i }
			require.Eventually(b, func() bool { // every comet has exactly the messages it should
				for i := range comets {
					fc := fakes[fmt.Sprintf("c%d:9100", i)]
					for room := int64(1); room <= rooms; room++ {
						want := b.N
						if routing && !holds(i, room) {
							want = 0
						}
						if g, _ := fc.received(room); len(g) != want {
							return false
						}
					}
				}
				return true
			}, 60*time.Second, 10*time.Millisecond)
			b.StopTimer()
			time.Sleep(200 * time.Millisecond)
			b.ReportMetric(float64(totalBatches(fakes))/float64(comets)/float64(b.N), "batches/comet/round")
			msgs := 0
			for _, fc := range fakes {
				for room := int64(1); room <= rooms; room++ {
					g, _ := fc.received(room)
					msgs += len(g)
				}
			}
			b.ReportMetric(float64(msgs)/float64(comets)/float64(b.N), "msgs/comet/round")
		})
	}
}

// namedComet gives a fake comet the address a remote one names itself by.
type namedComet struct {
	*fakeComet
	addr string
}

func (c namedComet) String() string { return c.addr }

func totalBatches(fakes map[string]*fakeComet) int {
	n := 0
	for _, fc := range fakes {
		fc.mu.Lock()
		for _, bs := range fc.batches {
			n += len(bs)
		}
		fc.mu.Unlock()
	}
	return n
}

// Two jobs of a cluster: one consumes and the other stands by, so a room's messages reach the
// comet in the order they were published (two consumers would each merge and send their
// share); when the active job stops, the other takes over and nothing is lost.
func TestOneActiveJobKeepsRoomOrder(t *testing.T) {
	q, err := queue.Open(context.Background(), queue.Config{Namespace: "act"}, t.TempDir(), obs.Discard())
	require.NoError(t, err)
	defer q.Close()
	c := newComet()
	startJob := func() (*Service, *prometheus.Registry) {
		leases, _ := leasetest.Node(t, q)
		reg := prometheus.NewRegistry()
		s, err := New(cfg(), Deps{Logger: obs.Discard(), Registry: reg, Queue: q, Comets: []Comet{c}, Leases: leases})
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		return s, reg
	}
	j1, r1 := startJob()
	j2, r2 := startJob()
	defer j2.Stop(context.Background())
	active := func(g prometheus.Gatherer) float64 {
		mfs, err := g.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "zhibo_job_active" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	require.Eventually(t, func() bool { return active(r1)+active(r2) == 1 }, 10*time.Second, 10*time.Millisecond, "exactly one job consumes")

	var want []string
	for i := range 300 {
		m := fmt.Sprint(i)
		want = append(want, m)
		publish(t, q, 3, m)
	}
	require.Eventually(t, func() bool { g, _ := c.received(3); return len(g) == 300 }, 10*time.Second, 5*time.Millisecond)
	got, _ := c.received(3)
	require.Equal(t, want, got, "in publish order")

	first, standby := j1, r2
	if active(r2) == 1 {
		first, standby = j2, r1
	}
	require.NoError(t, first.Stop(context.Background()))
	require.Eventually(t, func() bool { return active(standby) == 1 }, 10*time.Second, 10*time.Millisecond, "the standby takes over")
	publish(t, q, 3, "after")
	require.Eventually(t, func() bool { g, _ := c.received(3); return len(g) == 301 && g[300] == "after" }, 10*time.Second, 5*time.Millisecond)
}
