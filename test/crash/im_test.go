package crash

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/test/testbin"
)

// imSend is one private message send with its client id, acknowledged or not.
type imSend struct {
	from, to int // indexes into the users
	clientID string
	text     string
	acked    bool
	id       int64
}

type imMessage struct {
	ID       int64  `json:"id"`
	From     int64  `json:"from"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
	Replay   bool   `json:"replay"`
}

func (n *node) sendIM(s *imSend, users []session) (int, imMessage, error) {
	var m imMessage
	status, err := n.call("POST", "/api/im/messages", users[s.from].Token,
		map[string]any{"to": users[s.to].UID, "text": s.text, "client_id": s.clientID}, &m)
	return status, m, err
}

// TestIMStormSurvivesKill9 sends private messages concurrently, kills the process with SIGKILL
// in the middle, restarts it on the same data and retries the unacknowledged sends with their
// client ids. Every acknowledged message must be stored, each send exactly once (in the
// receiver's history and counted once in its unread total) — on SQLite and MySQL/MariaDB.
func TestIMStormSurvivesKill9(t *testing.T) {
	bin := testbin.Build(t)
	t.Run("sqlite", func(t *testing.T) { imStorm(t, bin, nil) })
	t.Run("mysql", func(t *testing.T) { imStorm(t, bin, mysqlArgs(t)) })
}

func imStorm(t *testing.T, bin string, extra []string) {
	began := time.Now()
	data := t.TempDir()
	args := append([]string{"-im_chat.rate", "0"}, extra...)
	n := startNode(t, bin, data, args...)
	users := make([]session, 12)
	for i := range users {
		users[i] = n.register(t, fmt.Sprintf("imuser%d", i))
	}

	var (
		killed atomic.Bool
		acked  atomic.Int64
		wg     sync.WaitGroup
		all    = make([][]*imSend, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; !killed.Load(); i++ {
				from := (w + i) % len(users)
				s := &imSend{from: from, to: (from + 1 + i%(len(users)-1)) % len(users),
					clientID: fmt.Sprintf("w%d-%d", w, i), text: fmt.Sprintf("message %d of worker %d", i, w)}
				all[w] = append(all[w], s)
				status, m, err := n.sendIM(s, users)
				if err == nil && status == http.StatusOK {
					s.acked, s.id = true, m.ID
					acked.Add(1)
				}
			}
		})
	}
	stormStart := time.Now()
	require.Eventually(t, func() bool { return acked.Load() >= minAcked && time.Since(stormStart) >= minStorm },
		20*time.Second, 5*time.Millisecond, "storm too slow")
	n.kill(t)
	killed.Store(true)
	wg.Wait()
	stormTook := time.Since(stormStart)

	n = startNode(t, bin, data, args...)
	var sends []*imSend
	for _, ss := range all {
		sends = append(sends, ss...)
	}
	retried := 0
	for _, s := range sends {
		status, m, err := n.sendIM(s, users)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, "retry of %s", s.clientID)
		if s.acked {
			require.Equal(t, s.id, m.ID, "a retry of acknowledged %s names its message", s.clientID)
			require.True(t, m.Replay)
		} else {
			s.id = m.ID
			retried++
		}
	}

	// Every send is in its receiver's history exactly once, and counted once unread.
	want := map[int]map[int64]*imSend{}
	for _, s := range sends {
		if want[s.to] == nil {
			want[s.to] = map[int64]*imSend{}
		}
		want[s.to][s.id] = s
	}
	for to, msgs := range want {
		require.Eventually(t, func() bool {
			var u struct {
				Total int64 `json:"total"`
			}
			st, err := n.call("GET", "/api/im/unread", users[to].Token, nil, &u)
			return err == nil && st == http.StatusOK && u.Total >= int64(len(msgs))
		}, 30*time.Second, 20*time.Millisecond, "user %d's messages were not all stored", to)
		seen := map[int64]bool{}
		byClient := map[string]bool{}
		for from := range users {
			if from == to {
				continue
			}
			before := ""
			for {
				var c struct {
					Items []imMessage `json:"items"`
				}
				n.must(t, "GET", fmt.Sprintf("/api/im/conversations/%d/messages?limit=500%s", users[from].UID, before), users[to].Token, nil, &c)
				for _, m := range c.Items {
					require.False(t, seen[m.ID], "message %d listed twice", m.ID)
					seen[m.ID] = true
					if m.From == users[from].UID {
						require.False(t, byClient[m.ClientID], "client id %s stored twice", m.ClientID)
						byClient[m.ClientID] = true
						s, ok := msgs[m.ID]
						require.True(t, ok, "message %d (%s) was never acknowledged", m.ID, m.ClientID)
						require.Equal(t, s.text, m.Text)
					}
				}
				if len(c.Items) < 500 {
					break
				}
				before = fmt.Sprintf("&before=%d", c.Items[len(c.Items)-1].ID)
			}
		}
		for id, s := range msgs {
			require.True(t, seen[id], "acknowledged message %d (%s) lost", id, s.clientID)
		}
		var u struct {
			Total int64 `json:"total"`
		}
		n.must(t, "GET", "/api/im/unread", users[to].Token, nil, &u)
		require.EqualValues(t, len(msgs), u.Total, "user %d's unread total counts each message once", to)
	}
	t.Logf("%d sends in %s before kill -9 (%d acknowledged), %d retried after restart, all stored once; took %s",
		len(sends), stormTook.Round(time.Millisecond), acked.Load(), retried, time.Since(began).Round(time.Millisecond))
}
