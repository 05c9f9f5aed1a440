package chat

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// ServiceAccount is a customer-service account: a user that people message like any other,
// answered by a pool of agents. Each user who writes to it is assigned the least loaded agent
// (and keeps that agent while the agent is in the pool); the agent gets the conversation's
// messages live and answers as the account.
type ServiceAccount struct {
	UID    int64   `yaml:"uid" json:"uid"`
	Agents []int64 `yaml:"agents" json:"agents"`
}

func validateServices(list []ServiceAccount, bots []Bot) error {
	seen := map[int64]bool{}
	for _, b := range bots {
		seen[b.UID] = true
	}
	for i, sa := range list {
		switch {
		case sa.UID <= 0 || seen[sa.UID]:
			return fmt.Errorf("im_chat.services[%d]: uid %d must be a user id, once, and not a bot's", i, sa.UID)
		case len(sa.Agents) == 0 || len(sa.Agents) > 1000:
			return fmt.Errorf("im_chat.services[%d]: agents must list 1 to 1000 users", i)
		}
		for _, a := range sa.Agents {
			if a <= 0 || a == sa.UID {
				return fmt.Errorf("im_chat.services[%d]: agent %d must be a user id other than the account's", i, a)
			}
		}
		seen[sa.UID] = true
	}
	return nil
}

// service returns the service account uid is, if it is one.
func (s *Service) service(uid int64) (ServiceAccount, bool) {
	i := slices.IndexFunc(s.cfg.Services, func(sa ServiceAccount) bool { return sa.UID == uid })
	if i < 0 {
		return ServiceAccount{}, false
	}
	return s.cfg.Services[i], true
}

func (s *Service) isService(uid int64) bool { _, ok := s.service(uid); return ok }

// agentOf returns the agent who answers m's conversation when one side is a service account
// (assigning one to a user writing in for the first time), or 0.
func (s *Service) agentOf(ctx context.Context, m Message) (int64, error) {
	if sa, ok := s.service(m.To); ok {
		return s.store.Assign(ctx, sa.UID, m.From, sa.Agents, s.connectedAgents(sa), m.Ts)
	}
	if sa, ok := s.service(m.From); ok {
		got, err := s.store.Assignments(ctx, sa.UID, []int64{m.To})
		return got[m.To], err
	}
	return 0, nil
}

// agentFor checks that uid answers for service account sid.
func (s *Service) agentFor(sid, uid int64) error {
	sa, ok := s.service(sid)
	if !ok || !slices.Contains(sa.Agents, uid) {
		return ErrNotAgent
	}
	return nil
}

// ServiceConversation is a service account's conversation with the agent who answers it.
type ServiceConversation struct {
	ConversationView
	Agent int64 `json:"agent"`
}

func (s *Service) handleServiceConversations(w http.ResponseWriter, r *http.Request, uid int64) error {
	sid, err := httpx.PathInt64(r, "sid")
	if err != nil {
		return err
	}
	if err := s.agentFor(sid, uid); err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 20, 1, maxPageLimit)
	if err != nil {
		return err
	}
	page, err := s.Conversations(r.Context(), sid, FolderAll, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	peers := make([]int64, len(page.Items))
	for i, c := range page.Items {
		peers[i] = c.Peer
	}
	agents, err := s.store.Assignments(r.Context(), sid, peers)
	if err != nil {
		return err
	}
	out := struct {
		Items []ServiceConversation `json:"items"`
		Next  string                `json:"next"`
	}{Items: make([]ServiceConversation, len(page.Items)), Next: page.Next}
	for i, c := range page.Items {
		out.Items[i] = ServiceConversation{ConversationView: c, Agent: agents[c.Peer]}
	}
	return httpx.OK(w, out)
}

func (s *Service) handleServiceHistory(w http.ResponseWriter, r *http.Request, uid int64) error {
	sid, err := httpx.PathInt64(r, "sid")
	if err != nil {
		return err
	}
	if err := s.agentFor(sid, uid); err != nil {
		return err
	}
	return s.handleHistory(w, r, sid)
}

func (s *Service) handleServiceSend(w http.ResponseWriter, r *http.Request, uid int64) error {
	sid, err := httpx.PathInt64(r, "sid")
	if err != nil {
		return err
	}
	if err := s.agentFor(sid, uid); err != nil {
		return err
	}
	return s.handleSend(w, r, sid)
}

func (s *Service) handleServiceRead(w http.ResponseWriter, r *http.Request, uid int64) error {
	sid, err := httpx.PathInt64(r, "sid")
	if err != nil {
		return err
	}
	if err := s.agentFor(sid, uid); err != nil {
		return err
	}
	return s.handleRead(w, r, sid)
}

// Reassignment is a conversation of a service account given to another agent.
type Reassignment struct {
	Service  int64 `json:"service"`
	Peer     int64 `json:"peer"`
	Agent    int64 `json:"agent"`
	Previous int64 `json:"previous"` // the agent who answered it before (0 = none)
	By       int64 `json:"by"`       // who reassigned it
	Changed  bool  `json:"changed"`  // false: agent answered it already
}

// Reassign gives sid's conversation with peer to agent, an agent of the account, on the word
// of by: one of its agents or an admin. From then on the conversation's messages are pushed
// to agent and no longer to the agent before (the deliverer reads the assignment of each
// message), and both get IM_SERVICE_AGENT.
func (s *Service) Reassign(ctx context.Context, sid, peer, agent, by int64) (Reassignment, error) {
	sa, ok := s.service(sid)
	if !ok || (!slices.Contains(sa.Agents, by) && (s.isAdmin == nil || !s.isAdmin(by))) {
		return Reassignment{}, ErrNotAgent
	}
	if !slices.Contains(sa.Agents, agent) {
		return Reassignment{}, ErrNotInPool.Withf("user %d is not an agent of service account %d", agent, sid)
	}
	prev, err := s.store.Reassign(ctx, sid, peer, agent, s.now().UnixMilli())
	if err != nil {
		return Reassignment{}, err
	}
	out := Reassignment{Service: sid, Peer: peer, Agent: agent, Previous: prev, By: by, Changed: prev != agent}
	if out.Changed {
		to := []int64{agent}
		if prev != 0 {
			to = append(to, prev)
		}
		s.notify(ctx, to, "IM_SERVICE_AGENT", out)
	}
	return out, nil
}

type reassignRequest struct {
	Agent int64 `json:"agent"`
}

func (s *Service) handleServiceReassign(w http.ResponseWriter, r *http.Request, uid int64) error {
	sid, err := httpx.PathInt64(r, "sid")
	if err != nil {
		return err
	}
	peer, err := httpx.PathInt64(r, "peer")
	if err != nil {
		return err
	}
	var in reassignRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if in.Agent <= 0 {
		return ErrBadInput.Withf("agent must be a user id")
	}
	out, err := s.Reassign(r.Context(), sid, peer, in.Agent, uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, out)
}
