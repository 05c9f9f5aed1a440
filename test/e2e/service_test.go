package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/im/chat"
)

// serviceFlag configures uid 1 as a customer-service account answered by uids 2 and 3: the
// first five users a fresh node registers are the account, its two agents and two customers
// (ServicePresenceScenario).
const serviceFlag = `[{"uid":1,"agents":[2,3]}]`

// ServicePresenceScenario, on a node with im_chat.services serviceFlag and no user yet: a
// customer writing in is assigned the agent who is connected — the second of the pool, its
// own channel open on a comet, though the first is first on a tie — and gets them live; once
// that agent left, the next customer gets the least loaded of all. The comets report the
// agents they hold to logic, which shares the list through presence with im-chat.
func ServicePresenceScenario(t *testing.T, n Node) {
	var users []session
	for i := range 5 {
		users = append(users, register(t, n, fmt.Sprintf("cs%d%d", i, time.Now().UnixNano()%1e6)))
		require.EqualValues(t, i+1, users[i].UID, "the node's users so far are the scenario's")
	}
	sid, agent1, agent2, cust1, cust2 := users[0], users[1], users[2], users[3], users[4]
	ch := ownChannel(t, n, agent2)
	defer ch.Close()

	connected := func(want ...int64) {
		t.Helper()
		require.Eventually(t, func() bool {
			var pool struct {
				Presence bool                 `json:"presence"`
				Items    []chat.AgentPresence `json:"items"`
			}
			code, _ := api(t, n, "GET", fmt.Sprintf("/api/im/services/%d/agents", sid.UID), agent1.Token, nil, &pool)
			require.Equal(t, 200, code)
			require.True(t, pool.Presence)
			var on []int64
			for _, a := range pool.Items {
				if a.Connected {
					on = append(on, a.UID)
				}
			}
			return slices.Equal(on, want)
		}, 15*time.Second, 50*time.Millisecond, "connected agents %v", want)
	}
	agentOf := func(peer int64) int64 {
		t.Helper()
		var agent int64
		require.Eventually(t, func() bool {
			var list struct {
				Items []chat.ServiceConversation `json:"items"`
			}
			code, _ := api(t, n, "GET", fmt.Sprintf("/api/im/services/%d/conversations", sid.UID), agent1.Token, nil, &list)
			require.Equal(t, 200, code)
			for _, c := range list.Items {
				if c.Peer == peer {
					agent = c.Agent
				}
			}
			return agent != 0
		}, 10*time.Second, 20*time.Millisecond)
		return agent
	}

	connected(agent2.UID)
	var sent imMsg
	code, _ := api(t, n, "POST", "/api/im/messages", cust1.Token, map[string]any{"to": sid.UID, "text": "where is my order?"}, &sent)
	require.Equal(t, 200, code)
	var got imMsg
	imEvent(t, waitFor(t, ch, "the customer's message at the connected agent", isCmd("IM_MSG")), &got)
	require.Equal(t, sent.ID, got.ID)
	require.Equal(t, agent2.UID, agentOf(cust1.UID))

	ch.Close()
	connected()
	code, _ = api(t, n, "POST", "/api/im/messages", cust2.Token, map[string]any{"to": sid.UID, "text": "hello?"}, nil)
	require.Equal(t, 200, code)
	require.Equal(t, agent1.UID, agentOf(cust2.UID), "nobody connected: the least loaded of the pool")
}

func TestServicePresenceAllInOne(t *testing.T) {
	ServicePresenceScenario(t, startAllInOne(t, func(c *config.Config) {
		c.IMChat.Services = []chat.ServiceAccount{{UID: 1, Agents: []int64{2, 3}}}
	}))
}
