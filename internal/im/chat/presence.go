package chat

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/presence"
)

// agentPresence knows which customer-service agents hold a connection — a room's or their
// own channel — on some comet of the cluster. It tracks every agent of im_chat.services in the
// presence bucket (again every presence.TrackEvery); logic answers each comet's report with the
// tracked users, the comet names those it holds in its next report (every
// comet.report_interval), and logic shares that list; a list counts for im_chat.agent_stale.
// A user writing in for the first time is then assigned the least loaded of the agents
// connected, and of all of them when none is (the store's Assign); a user keeps their agent
// while the agent is in the pool, connected or not.
type agentPresence struct {
	users *presence.Users
	stop  context.CancelFunc
}

// startPresence starts tracking the agents and watching who of them is connected; without a
// presence table, services or a staleness bound it does nothing.
func (s *Service) startPresence(ctx context.Context) error {
	if s.presence == nil || len(s.cfg.Services) == 0 || s.cfg.AgentStale <= 0 {
		return nil
	}
	users := presence.NewUsers(s.cfg.AgentStale)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, err := s.presence.WatchUsers(bg, users.Apply)
	if err != nil {
		cancel()
		return err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
	s.agents = &agentPresence{users: users, stop: cancel}
	s.wg.Go(func() { s.trackAgents(bg) })
	return nil
}

// trackAgents writes each agent's track entry now and every presence.TrackEvery until ctx
// ends, and counts the agents connected.
func (s *Service) trackAgents(ctx context.Context) {
	t := time.NewTicker(presence.TrackEvery)
	defer t.Stop()
	for {
		if err := s.trackOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("im-chat: agents' presence not asked for; they are assigned by load until it is", "err", err)
		}
		on := 0
		for _, sa := range s.cfg.Services {
			on += len(s.connectedAgents(sa))
		}
		s.m.agentsOn.Set(float64(on))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) trackOnce(ctx context.Context) error {
	for _, sa := range s.cfg.Services {
		for _, a := range sa.Agents {
			if err := s.presence.Track(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// connectedAgents lists the agents of sa connected now, nil when none is or presence is not
// known here.
func (s *Service) connectedAgents(sa ServiceAccount) []int64 {
	if s.agents == nil {
		return nil
	}
	var on []int64
	for _, a := range sa.Agents {
		if s.agents.users.Online(a) {
			on = append(on, a)
		}
	}
	return on
}

// AgentPresence is one agent of a service account, connected or not.
type AgentPresence struct {
	UID       int64 `json:"uid"`
	Connected bool  `json:"connected"`
}

// Agents lists sid's agents and whether each is connected, for one of them or an admin (by);
// known reports whether presence is on (false: every agent reads as not connected).
func (s *Service) Agents(sid, by int64) (list []AgentPresence, known bool, err error) {
	sa, ok := s.service(sid)
	if !ok || (!slices.Contains(sa.Agents, by) && (s.isAdmin == nil || !s.isAdmin(by))) {
		return nil, false, ErrNotAgent
	}
	list = make([]AgentPresence, len(sa.Agents))
	for i, a := range sa.Agents {
		list[i] = AgentPresence{UID: a, Connected: s.agents != nil && s.agents.users.Online(a)}
	}
	return list, s.agents != nil, nil
}

func (s *Service) handleServiceAgents(w http.ResponseWriter, r *http.Request, uid int64) error {
	sid, err := httpx.PathInt64(r, "sid")
	if err != nil {
		return err
	}
	list, known, err := s.Agents(sid, uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, struct {
		Presence bool            `json:"presence"`
		Items    []AgentPresence `json:"items"`
	}{known, list})
}
