package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/presence"
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

// An agent (or an admin) gives a conversation of the account to another agent of its pool:
// from then on its messages, both ways, are pushed to the new agent and no longer to the one
// before, and both are told with IM_SERVICE_AGENT. A reassignment refused — by someone not
// an agent, to someone not in the pool, of a conversation the account does not have — changes
// nothing and tells nobody.
func TestServiceConversationReassigned(t *testing.T) {
	const service, agent1, agent2, outsider, boss int64 = 900, 901, 902, 903, 904
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarnessDeps(t, db, func(c *chat.Config) {
			c.Services = []chat.ServiceAccount{{UID: service, Agents: []int64{agent1, agent2}}}
		}, nil, func(d *chat.Deps) { d.IsAdmin = func(uid int64) bool { return uid == boss } })
		h.users.Add(service, agent1, agent2, outsider, boss)
		pushedTo := func(id int64) []int64 {
			for _, d := range h.delivered("IM_MSG") {
				if d.message(t).ID == id {
					return d.uids
				}
			}
			return nil
		}
		agentOf := func(peer int64) int64 { return h.serviceAgent(agent1, service, peer) }
		reassign := func(by, sid, peer int64, body string) (int, int, chat.Reassignment) {
			code, data, _ := h.call(by, "PUT", fmt.Sprintf("/api/im/services/%d/conversations/%d/agent", sid, peer), body)
			var out chat.Reassignment
			if code == 200 {
				require.NoError(t, json.Unmarshal(data, &out))
				return code, 0, out
			}
			var env struct{ Code int }
			require.NoError(t, json.Unmarshal(data, &env), "%s", data)
			return code, env.Code, out
		}

		first := h.send(alice, service, "where is my parcel?", "")
		h.waitFor("stored", func() bool { return unread(h, service) == 1 })
		h.waitFor("pushed to agent1", func() bool { return slices.Contains(pushedTo(first.ID), agent1) })

		for _, c := range []struct {
			by, sid, peer int64
			body          string
			status, code  int
		}{
			{outsider, service, alice, `{"agent":902}`, 403, -70014}, // not an agent
			{agent1, alice, alice, `{"agent":902}`, 403, -70014},     // not a service account
			{agent1, service, alice, `{"agent":903}`, 400, -70015},   // not in the pool
			{agent1, service, alice, `{"agent":900}`, 400, -70015},   // the account itself
			{agent1, service, carol, `{"agent":902}`, 404, -70009},   // no such conversation
			{agent1, service, alice, `{"agent":0}`, 400, -70001},     // no agent
			{agent1, service, alice, `{"agent":"902"}`, 400, 0},      // not a number
		} {
			status, code, _ := reassign(c.by, c.sid, c.peer, c.body)
			require.Equal(t, c.status, status, "%+v", c)
			if c.code != 0 {
				require.Equal(t, c.code, code, "%+v", c)
			}
		}
		require.Equal(t, agent1, agentOf(alice), "the refusals changed nothing")
		require.Empty(t, h.delivered("IM_SERVICE_AGENT"), "and told nobody")

		status, _, got := reassign(agent1, service, alice, `{"agent":902}`)
		require.Equal(t, 200, status)
		require.Equal(t, chat.Reassignment{Service: service, Peer: alice, Agent: agent2, Previous: agent1, By: agent1, Changed: true}, got)
		require.Equal(t, agent2, agentOf(alice))
		events := h.delivered("IM_SERVICE_AGENT")
		require.Len(t, events, 1)
		require.ElementsMatch(t, []int64{agent1, agent2}, events[0].uids, "both agents told")
		require.JSONEq(t, `{"service":900,"peer":201,"agent":902,"previous":901,"by":901,"changed":true}`, string(events[0].data))

		in := h.send(alice, service, "hello?", "")
		code, data, _ := h.call(agent2, "POST", fmt.Sprintf("/api/im/services/%d/messages", service), `{"to":201,"text":"here"}`)
		require.Equal(t, 200, code, "%s", data)
		var out chat.Message
		require.NoError(t, json.Unmarshal(data, &out))
		for _, id := range []int64{in.ID, out.ID} {
			h.waitFor("pushed", func() bool { return pushedTo(id) != nil })
			require.Contains(t, pushedTo(id), agent2, "the new agent gets the conversation")
			require.NotContains(t, pushedTo(id), agent1, "the agent before no longer does")
		}

		// An admin gives it back; the same agent again changes nothing.
		status, _, got = reassign(boss, service, alice, `{"agent":901}`)
		require.Equal(t, 200, status)
		require.Equal(t, agent2, got.Previous)
		status, _, got = reassign(agent2, service, alice, `{"agent":901}`)
		require.Equal(t, 200, status)
		require.False(t, got.Changed)
		require.Len(t, h.delivered("IM_SERVICE_AGENT"), 2, "no event for what did not change")
		back := h.send(alice, service, "thanks", "")
		h.waitFor("pushed", func() bool { return pushedTo(back.ID) != nil })
		require.Contains(t, pushedTo(back.ID), agent1)
		require.NotContains(t, pushedTo(back.ID), agent2)
	})
}

// With presence, a user writing in for the first time is assigned the least loaded of the
// agents connected (the comets' lists, through logic), of all agents when none is; a user
// keeps their agent, connected or not. The pool's presence is listed for its agents.
func TestServiceAssignsConnectedAgents(t *testing.T) {
	const service, agent1, agent2, outsider int64 = 900, 901, 902, 903
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		var table *presence.Table
		h := newHarnessDeps(t, db, func(c *chat.Config) {
			c.Services = []chat.ServiceAccount{{UID: service, Agents: []int64{agent1, agent2}}}
		}, nil, func(d *chat.Deps) {
			var err error
			table, err = presence.Open(context.Background(), d.Queue, d.Logger)
			require.NoError(t, err)
			d.Presence = table
		})
		h.users.Add(service, agent1, agent2, outsider)
		connected := func(want ...int64) {
			t.Helper()
			require.NoError(t, table.PutUsers(context.Background(), "comet-1", want))
			h.waitFor(fmt.Sprint("connected: ", want), func() bool {
				code, data, _ := h.call(agent1, "GET", fmt.Sprintf("/api/im/services/%d/agents", service), "")
				require.Equal(t, 200, code, "%s", data)
				var got struct {
					Presence bool                 `json:"presence"`
					Items    []chat.AgentPresence `json:"items"`
				}
				require.NoError(t, json.Unmarshal(data, &got))
				require.True(t, got.Presence)
				var on []int64
				for _, a := range got.Items {
					if a.Connected {
						on = append(on, a.UID)
					}
				}
				return slices.Equal(on, want)
			})
		}
		agentOf := func(peer int64) int64 {
			t.Helper()
			var agent int64
			h.waitFor("assigned", func() bool { agent = h.serviceAgent(agent1, service, peer); return agent != 0 })
			return agent
		}

		connected(agent2)
		h.send(alice, service, "hello?", "")
		require.Equal(t, agent2, agentOf(alice), "the connected agent, though agent1 is first on a tie")
		connected()
		h.send(bob, service, "anyone?", "")
		require.Equal(t, agent1, agentOf(bob), "nobody connected: the least loaded of all")
		h.send(alice, service, "still there?", "")
		h.waitFor("stored", func() bool { return unread(h, service) == 3 })
		require.Equal(t, agent2, agentOf(alice), "alice keeps her agent")
		connected(agent2)
		h.send(carol, service, "hi", "")
		require.Equal(t, agent2, agentOf(carol), "the connected one, on a tie of load")

		code, _, _ := h.call(outsider, "GET", fmt.Sprintf("/api/im/services/%d/agents", service), "")
		require.Equal(t, 403, code)
		code, _, _ = h.call(agent1, "GET", fmt.Sprintf("/api/im/services/%d/agents", alice), "")
		require.Equal(t, 403, code, "not a service account")
	})
}

// serviceAgent is the agent of service's conversation with peer, as agent (one of the pool)
// reads the account's list; 0 when there is no such conversation yet.
func (h *harness) serviceAgent(agent, service, peer int64) int64 {
	h.t.Helper()
	code, data, _ := h.call(agent, "GET", fmt.Sprintf("/api/im/services/%d/conversations", service), "")
	require.Equal(h.t, 200, code, "%s", data)
	var list struct {
		Items []chat.ServiceConversation `json:"items"`
	}
	require.NoError(h.t, json.Unmarshal(data, &list))
	for _, c := range list.Items {
		if c.Peer == peer {
			return c.Agent
		}
	}
	return 0
}
