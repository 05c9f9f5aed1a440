package crash

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/test/testbin"
)

// Storm shape: workers sending gifts concurrently from senders to one anchor.
const (
	workers        = 16
	senders        = 24
	initialBalance = int64(1_000_000_000_000)
	minAcked       = 300                     // acknowledged orders before the kill
	minStorm       = 1500 * time.Millisecond // and at least this long
)

// attempt is one gift send with its idempotency key, acknowledged or not.
type attempt struct {
	sender     int
	key        string
	gift, num  int64
	acked      bool
	orderID    int64
	total      int64
	beforeKill bool // acknowledged by the killed process
}

type order struct {
	ID    int64 `json:"id"`
	Total int64 `json:"total"`
}

func (n *node) send(a *attempt, tok string, room int64) (int, order, error) {
	var o order
	status, err := n.call("POST", fmt.Sprintf("/api/rooms/%d/gifts", room), tok,
		map[string]any{"gift_id": a.gift, "num": a.num, "idempotency_key": a.key}, &o)
	return status, o, err
}

// TestGiftStormSurvivesKill9 sends gifts concurrently, kills the process with SIGKILL in the
// middle, restarts it on the same data, retries the unacknowledged sends with their keys, and
// requires the anchor score and the rank to equal the acknowledged orders exactly and every
// wallet to be charged once per order — on SQLite and on MySQL/MariaDB.
func TestGiftStormSurvivesKill9(t *testing.T) {
	bin := testbin.Build(t)
	t.Run("sqlite", func(t *testing.T) { giftStorm(t, bin, nil) })
	t.Run("mysql", func(t *testing.T) { giftStorm(t, bin, mysqlArgs(t)) })
}

func giftStorm(t *testing.T, bin string, extra []string) {
	began := time.Now()
	data := t.TempDir()
	args := append([]string{"-gift.initial_balance", strconv.FormatInt(initialBalance, 10),
		"-gift.rank_size", "1000", "-gift.aggregate_window", "200ms"}, extra...)
	n := startNode(t, bin, data, args...)
	anchor := n.register(t, "anchor")
	var room struct {
		ID int64 `json:"id"`
	}
	n.must(t, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "storm"}, &room)
	users := make([]session, senders)
	for i := range users {
		users[i] = n.register(t, fmt.Sprintf("sender%d", i))
	}

	// The storm, killed in the middle.
	var (
		killed atomic.Bool
		acked  atomic.Int64
		wg     sync.WaitGroup
		all    = make([][]*attempt, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; !killed.Load(); i++ {
				a := &attempt{sender: (w*7 + i) % senders, key: fmt.Sprintf("w%d-%d", w, i),
					gift: int64(3 + i%3), num: int64(1 + i%4)}
				all[w] = append(all[w], a)
				status, o, err := n.send(a, users[a.sender].Token, room.ID)
				if err == nil && status == http.StatusOK {
					a.acked, a.orderID, a.total, a.beforeKill = true, o.ID, o.Total, true
					acked.Add(1)
				}
			}
		})
	}
	stormStart := time.Now()
	require.Eventually(t, func() bool { return acked.Load() >= minAcked && time.Since(stormStart) >= minStorm },
		20*time.Second, 5*time.Millisecond, "storm too slow")
	n.kill(t) // kill -9 while the workers are sending
	killed.Store(true)
	wg.Wait()
	stormTook := time.Since(stormStart)

	// Restart on the same data; retry what was not acknowledged with the same keys.
	n = startNode(t, bin, data, args...)
	var attempts []*attempt
	for _, as := range all {
		attempts = append(attempts, as...)
	}
	retried, checked := 0, 0
	for _, a := range attempts {
		switch {
		case !a.acked:
			status, o, err := n.send(a, users[a.sender].Token, room.ID)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, "retry of %s", a.key)
			a.acked, a.orderID, a.total = true, o.ID, o.Total
			retried++
		case checked < 50:
			// A retry of an acknowledged send returns the same order, uncharged.
			status, o, err := n.send(a, users[a.sender].Token, room.ID)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, a.orderID, o.ID, "retry of %s", a.key)
			checked++
		}
	}

	var want int64
	perSender := map[int64]int64{}
	for _, a := range attempts {
		require.Positive(t, a.total)
		want += a.total
		perSender[users[a.sender].UID] += a.total
	}
	type rank struct {
		Items []struct {
			UID   int64 `json:"uid"`
			Score int64 `json:"score"`
		} `json:"items"`
		AnchorScore int64 `json:"anchor_score"`
	}
	var r rank
	require.Eventually(t, func() bool {
		status, err := n.call("GET", fmt.Sprintf("/api/rooms/%d/rank?limit=1000", room.ID), "", nil, &r)
		return err == nil && status == http.StatusOK && r.AnchorScore >= want
	}, 25*time.Second, 50*time.Millisecond, "anchor score did not reach the acknowledged total %d", want)
	require.Equal(t, want, r.AnchorScore, "anchor score = sum of acknowledged orders")
	var rankSum int64
	got := map[int64]int64{}
	for _, it := range r.Items {
		rankSum += it.Score
		got[it.UID] = it.Score
	}
	require.Equal(t, want, rankSum, "rank scores sum to the anchor score")
	require.Equal(t, perSender, got)
	for _, u := range users {
		var w struct {
			Balance int64 `json:"balance"`
		}
		n.must(t, "GET", "/api/wallet", u.Token, nil, &w)
		require.Equal(t, initialBalance-perSender[u.UID], w.Balance, "sender %d charged once per order", u.UID)
	}
	before := 0
	for _, a := range attempts {
		if a.beforeKill {
			before++
		}
	}
	t.Logf("%d sends in %s before kill -9 (%d acknowledged), %d retried after restart, score %d exact; took %s",
		len(attempts), stormTook.Round(time.Millisecond), before, retried, want, time.Since(began).Round(time.Millisecond))
}
