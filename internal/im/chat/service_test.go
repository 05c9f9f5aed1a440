package chat_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// Users writing to a customer-service account are spread over its agents (the least loaded
// first, each user keeping theirs); the agent gets the conversation live and answers as the
// account; nobody else may.
func TestServiceAccountAgents(t *testing.T) {
	const service, agent1, agent2, outsider int64 = 900, 901, 902, 903
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *chat.Config) {
			c.Services = []chat.ServiceAccount{{UID: service, Agents: []int64{agent1, agent2}}}
		})
		h.users.Add(service, agent1, agent2, outsider)
		first := h.send(alice, service, "my order is late", "")
		h.waitFor("alice assigned", func() bool { return len(h.delivered("IM_MSG")) == 1 })
		h.send(bob, service, "refund please", "")
		h.clock.Advance(1)
		again := h.send(alice, service, "any news?", "")
		h.waitFor("delivered", func() bool { return len(h.delivered("IM_MSG")) == 3 })
		to := map[int64][]int64{}
		for _, d := range h.delivered("IM_MSG") {
			m := d.message(t)
			to[m.ID] = d.uids
		}
		require.True(t, slices.Contains(to[first.ID], agent1), "alice first: agent1")
		require.True(t, slices.Contains(to[again.ID], agent1), "alice keeps agent1")

		h.waitFor("stored", func() bool { return unread(h, service) == 3 })
		code, data, _ := h.call(agent2, "GET", fmt.Sprintf("/api/im/services/%d/conversations", service), "")
		require.Equal(t, 200, code, "%s", data)
		var list struct {
			Items []chat.ServiceConversation `json:"items"`
		}
		require.NoError(t, json.Unmarshal(data, &list))
		require.Len(t, list.Items, 2)
		agents := map[int64]int64{}
		for _, c := range list.Items {
			agents[c.Peer] = c.Agent
		}
		require.Equal(t, map[int64]int64{alice: agent1, bob: agent2}, agents, "bob went to the less loaded agent")

		code, data, _ = h.call(agent1, "POST", fmt.Sprintf("/api/im/services/%d/messages", service), `{"to":201,"text":"on its way"}`)
		require.Equal(t, 200, code, "%s", data)
		var reply chat.Message
		require.NoError(t, json.Unmarshal(data, &reply))
		require.Equal(t, service, reply.From, "the agent answers as the account")
		h.waitFor("the reply reaches alice and her agent", func() bool {
			for _, d := range h.delivered("IM_MSG") {
				if d.message(t).ID == reply.ID {
					return slices.Contains(d.uids, alice) && slices.Contains(d.uids, agent1)
				}
			}
			return false
		})
		code, _, _ = h.call(agent1, "POST", fmt.Sprintf("/api/im/services/%d/conversations/%d/read", service, alice), jsonBody(map[string]int64{"read_id": again.ID}))
		require.Equal(t, 200, code)
		h.waitFor("read", func() bool { return unread(h, service) == 1 })
		h.waitFor("the reply in the account's history", func() bool {
			code, data, _ := h.call(agent1, "GET", fmt.Sprintf("/api/im/services/%d/conversations/%d/messages", service, alice), "")
			require.Equal(t, 200, code)
			return strings.Contains(string(data), "on its way")
		})

		for _, path := range []string{"/conversations", "/conversations/201/messages"} {
			code, _, _ = h.call(outsider, "GET", fmt.Sprintf("/api/im/services/%d%s", service, path), "")
			require.Equal(t, 403, code, path)
		}
		code, _, _ = h.call(outsider, "POST", fmt.Sprintf("/api/im/services/%d/messages", service), `{"to":201,"text":"fake"}`)
		require.Equal(t, 403, code)
		code, _, _ = h.call(agent1, "GET", fmt.Sprintf("/api/im/services/%d/conversations", alice), "")
		require.Equal(t, 403, code, "not a service account")
	})
}

func TestServicesConfig(t *testing.T) {
	c := chat.DefaultConfig()
	c.Services = []chat.ServiceAccount{{UID: 1}}
	require.ErrorContains(t, c.Validate(), "agents")
	c.Services = []chat.ServiceAccount{{UID: 1, Agents: []int64{1}}}
	require.ErrorContains(t, c.Validate(), "other than")
	c.Services = []chat.ServiceAccount{{UID: 1, Agents: []int64{2}}}
	c.Bots = []chat.Bot{{UID: 1, URL: "https://x.example", Secret: "0123456789abcdef"}}
	require.ErrorContains(t, c.Validate(), "not a bot")
}
