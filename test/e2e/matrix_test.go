package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/cache/cachetest"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// load sends comments and gifts through the front gateway at a steady pace and records what
// the platform acknowledged: a comment answered 200, a gift order answered 200 (retried with
// its idempotency key until it is, or the load ends).
type load struct {
	n      Node
	fan    session
	room   int64
	mu     sync.Mutex
	texts  []string         // acknowledged comments, in order
	ackAt  []time.Time      // when each comment was acknowledged
	orders map[string]int64 // idempotency key → total of the acknowledged order
	failed map[string]int   // refused requests by kind during the faults
	stop   chan struct{}
	done   sync.WaitGroup
}

func (l *load) run() {
	l.done.Add(2)
	go func() { // comments, 25/s
		defer l.done.Done()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			text := fmt.Sprintf("m%05d", i)
			code, _, err := tryAPI(l.n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", l.room), l.fan.Token, map[string]any{"text": text}, nil)
			if err != nil {
				code = 0 // no answer: the gateway is down
			}
			l.mu.Lock()
			if code == 200 {
				l.texts = append(l.texts, text)
				l.ackAt = append(l.ackAt, time.Now())
			} else {
				l.failed[fmt.Sprintf("comment %d", code)]++
			}
			l.mu.Unlock()
		}
	}()
	go func() { // gifts, 4/s, each retried with its key until acknowledged
		defer l.done.Done()
		for i := 0; ; i++ {
			key := fmt.Sprintf("matrix-%d", i)
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(250 * time.Millisecond):
				}
				var o struct {
					Total int64 `json:"total"`
				}
				code, _, err := tryAPI(l.n, "POST", fmt.Sprintf("/api/rooms/%d/gifts", l.room), l.fan.Token,
					map[string]any{"gift_id": 1, "num": 1, "idempotency_key": key}, &o)
				if err != nil {
					code = 0
				}
				l.mu.Lock()
				if code == 200 {
					l.orders[key] = o.Total
				} else {
					l.failed[fmt.Sprintf("gift %d", code)]++
				}
				l.mu.Unlock()
				if code == 200 {
					break
				}
			}
		}
	}()
}

// The fault matrix on a cluster with every component in its own process, under a steady load
// of comments and gifts and a viewer on comet 1: each component type is killed (kill -9) in
// turn and restarted. Requests may fail while a component is down; nothing acknowledged is
// lost or applied twice — every acknowledged comment is stored once and reaches the viewer,
// every acknowledged gift order is stored once and counted once in the anchor's score.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix kills and restarts ten processes")
	}
	a := startAlone(t, matrixFlags...)
	type fault struct {
		name       string
		killed, up time.Time
		refused    int
	}
	var faults []fault
	l := underLoad(t, a, func(l *load) {
		for _, name := range []string{"account", "room", "gift", "danmaku", "logic", "job1", "job2", "comet2", "gateway"} {
			p := a.procs[name]
			f := fault{name: name, killed: time.Now(), refused: -l.refused()}
			p.Kill(t)
			time.Sleep(time.Second)
			p.Restart(t)
			f.up = time.Now()
			time.Sleep(2 * time.Second)
			f.refused += l.refused()
			faults = append(faults, f)
		}
	})
	// The table of docs/operations.md: what each kill cost.
	t.Logf("| killed (kill -9, restarted 1 s later) | requests refused | longest pause in acknowledged comments |")
	for _, f := range faults {
		t.Logf("| %s | %d | %s |", f.name, f.refused, l.longestPause(f.killed, f.up.Add(2*time.Second)).Round(10*time.Millisecond))
	}
}

// NATS stopped for 10 s under the same load: comments are still stored and acknowledged, gift
// orders too; their pushes and events wait in the outboxes and go out when the queue is back,
// so the viewer still gets every acknowledged comment and the score is exact.
func TestNATSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the queue under a cluster of ten processes")
	}
	nats := queuetest.NewServer(t)
	a := startAloneOn(t, nats.URL(), matrixFlags...)
	outage(t, a, "NATS", nats)
}

// MariaDB stopped for 10 s under the same load, every business component's database on it:
// what needs the database is refused meanwhile (nothing half-applied), and everything works
// again once it is back; nothing acknowledged is lost or applied twice.
func TestMariaDBOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a database under a cluster of ten processes")
	}
	db := sqltest.NewServer(t)
	dbs := map[string]sqlstore.Config{}
	for _, c := range []string{"account", "room", "gift", "danmaku"} {
		dbs[c] = sqlstore.Config{Driver: "mysql", DSN: db.DSN("zhibo_" + c)}
	}
	a := startAloneWith(t, queuetest.URL(t), dbs, matrixFlags...)
	outage(t, a, "MariaDB", db)
}

// Redis stopped for 10 s under the same load, with room reading rooms through it: room falls
// back to its store, so nothing is refused; the cache is used again once it is back.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the cache under a cluster of ten processes")
	}
	redis := cachetest.NewServer(t)
	a := startAlone(t, append([]string{"-redis.addr", redis.Addr()}, matrixFlags...)...)
	outage(t, a, "Redis", redis)
}

// outage stops svc for 10 s under underLoad's load, starts it again, and logs the row of
// docs/operations.md.
func outage(t *testing.T, a *alone, name string, svc interface {
	Stop()
	Start()
}) {
	var stopped, started time.Time
	l := underLoad(t, a, func(*load) {
		stopped = time.Now()
		svc.Stop()
		time.Sleep(10 * time.Second)
		svc.Start()
		started = time.Now()
		time.Sleep(5 * time.Second)
	})
	t.Logf("| %s stopped for 10 s | %d requests refused | longest pause in acknowledged comments %s |",
		name, l.refused(), l.longestPause(stopped, started.Add(5*time.Second)).Round(10*time.Millisecond))
}

// matrixFlags shorten the cluster's failure detection for the fault tests.
var matrixFlags = []string{"-lease.ttl", "2s", "-lease.renew", "500ms", "-job.ack_wait", "6s",
	"-job.comet_dead_after", "2s", "-job.push_timeout", "1s", "-gift.initial_balance", "1000000",
	"-danmaku.push_timeout", "500ms"}

func (l *load) refused() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sum(l.failed)
}

// longestPause is the longest time without an acknowledged comment in [from, to].
func (l *load) longestPause(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	last := from
	for _, at := range l.ackAt {
		if at.Before(from) {
			continue
		}
		if at.After(to) {
			break
		}
		longest = max(longest, at.Sub(last))
		last = at
	}
	return max(longest, to.Sub(last))
}

// underLoad runs faults on cluster a under a steady load of comments and gifts with a viewer
// on comet 1, then checks that nothing acknowledged was lost or applied twice.
func underLoad(t *testing.T, a *alone, faults func(*load)) *load {
	n := a.front
	anchor := register(t, n, "matrix_anchor")
	fan := register(t, n, "matrix_fan")
	var rm struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "matrix"}, &rm)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/live", rm.ID), anchor.Token, map[string]bool{"on": true}, nil)
	require.Equal(t, 200, code)
	var info struct {
		Token string `json:"token"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", rm.ID), fan.Token, nil, &info)
	require.Equal(t, 200, code)
	v, err := viewer.Dial(context.Background(), viewer.Options{Addr: n.WSURL, WS: true, UID: fan.UID, RoomID: rm.ID, Token: info.Token, ProtoVer: 2})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	seen := map[string]int{}
	var seenMu sync.Mutex
	go func() {
		for {
			p, err := v.NextUntil(time.Now().Add(time.Hour))
			if err != nil {
				return
			}
			if txt := danmuText(p); txt != "" {
				seenMu.Lock()
				seen[txt]++
				seenMu.Unlock()
			}
		}
	}()

	l := &load{n: n, fan: fan, room: rm.ID, orders: map[string]int64{}, failed: map[string]int{}, stop: make(chan struct{})}
	l.run()
	time.Sleep(time.Second)
	faults(l)
	time.Sleep(time.Second)
	close(l.stop)
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	require.Greater(t, len(l.texts), 50, "the load went on through the faults")
	require.Greater(t, len(l.orders), 10)

	// Every acknowledged comment reached the viewer that stayed connected.
	require.Eventually(t, func() bool {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, txt := range l.texts {
			if seen[txt] == 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond, "an acknowledged comment never reached the viewer")
	seenMu.Lock()
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	seenMu.Unlock()
	t.Logf("viewer: %d comments, %d delivered twice (at least once)", len(l.texts), dups)

	// Stored exactly once: comments by text, orders by key; the score is the sum of the stored
	// orders. A request whose answer was lost (a process killed mid-request) may be stored
	// without having been acknowledged; it is stored once all the same.
	query := func(store, q string, args ...any) map[string]int64 {
		db, err := sqlstore.Open(context.Background(), a.dbs[store], t.TempDir())
		require.NoError(t, err)
		defer db.Close()
		rows, err := db.Query(q, args...)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var k string
			var v int64
			require.NoError(t, rows.Scan(&k, &v))
			out[k] = v
		}
		require.NoError(t, rows.Err())
		return out
	}
	comments := query("danmaku", "SELECT text, COUNT(*) FROM danmaku_comments WHERE room_id = ? GROUP BY text", rm.ID)
	for _, txt := range l.texts {
		require.EqualValues(t, 1, comments[txt], "acknowledged comment %q stored once", txt)
	}
	for txt, n := range comments {
		require.EqualValues(t, 1, n, "comment %q stored %d times", txt, n)
	}
	orders := query("gift", "SELECT idem_key, total FROM gift_orders WHERE room_id = ?", rm.ID)
	for key := range l.orders {
		require.Contains(t, orders, key, "acknowledged order %s stored", key)
	}
	var want int64
	for _, total := range orders { // one row per key: the store's unique key
		want += total
	}
	require.Eventually(t, func() bool {
		var rank struct {
			AnchorScore int64 `json:"anchor_score"`
		}
		code, _, err := tryAPI(n, "GET", fmt.Sprintf("/api/rooms/%d/rank", rm.ID), "", nil, &rank)
		return err == nil && code == 200 && rank.AnchorScore == want
	}, 60*time.Second, 100*time.Millisecond, "the anchor's score is the sum of the stored orders, each counted once")
	t.Logf("refused during the faults: %v", l.failed)
	for kind := range l.failed {
		require.NotContains(t, kind, " 500", "a fault is a degraded service (503), not an internal error: %v", l.failed)
	}
	return l
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
