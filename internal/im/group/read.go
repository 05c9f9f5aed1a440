package group

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

// Limits of reads and of a creation's member list.
const (
	maxPage     = 200
	unreadCap   = 100 // unread counts stop here (a client shows 99+)
	maxNameRune = 50
)

// Create makes a group owned by uid with the given members (the owner is added).
func (s *Service) Create(ctx context.Context, uid int64, name string, members []int64) (Group, error) {
	name = strings.TrimSpace(textnorm.Clean(name))
	if n := len([]rune(name)); n == 0 || n > maxNameRune {
		return Group{}, ErrBadInput.Withf("name must be 1 to %d characters", maxNameRune)
	}
	if s.words.Load().Found(name) {
		return Group{}, ErrBanned
	}
	all := append([]int64{uid}, members...)
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) > s.cfg.MaxMembers {
		return Group{}, ErrGroupFull.Withf("a group holds at most %d members", s.cfg.MaxMembers)
	}
	if err := s.usersExist(ctx, all); err != nil {
		return Group{}, err
	}
	id, err := s.ids.Next()
	if err != nil {
		return Group{}, err
	}
	g := Group{ID: id, Owner: uid, Name: name, Members: len(all), CreatedAt: s.now().UnixMilli()}
	g.Mtime = g.CreatedAt
	if err := s.store.Create(ctx, g, all, id); err != nil {
		return Group{}, err
	}
	s.notify(ctx, all, "IM_GROUP_JOIN", map[string]any{"group_id": g.ID, "name": g.Name, "uids": all})
	return g, nil
}

// usersExist checks every uid is a user.
func (s *Service) usersExist(ctx context.Context, uids []int64) error {
	names, err := s.accounts.Names(ctx, uids)
	if err != nil {
		return apierr.Unavailable.Wrap(err)
	}
	for _, u := range uids {
		if _, ok := names[u]; !ok || u <= 0 {
			return ErrUserNotFound.Withf("user %d not found", u)
		}
	}
	return nil
}

// AddMembers adds users to a group: its owner only.
func (s *Service) AddMembers(ctx context.Context, uid, group int64, uids []int64) (int, error) {
	if len(uids) == 0 || len(uids) > s.cfg.MaxMembers {
		return 0, ErrBadInput.Withf("uids must hold 1 to %d user ids", s.cfg.MaxMembers)
	}
	if err := s.owner(ctx, group, uid); err != nil {
		return 0, err
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	if err := s.usersExist(ctx, uids); err != nil {
		return 0, err
	}
	joined, err := s.ids.Next()
	if err != nil {
		return 0, err
	}
	n, err := s.store.AddMembers(ctx, group, uids, joined, s.cfg.MaxMembers)
	if err == nil && n > 0 {
		s.notify(ctx, uids, "IM_GROUP_JOIN", map[string]any{"group_id": group, "uids": uids})
	}
	return n, err
}

func (s *Service) owner(ctx context.Context, group, uid int64) error {
	g, err := s.store.Group(ctx, group)
	if err != nil {
		return err
	}
	if g.Owner != uid {
		return ErrNotOwner
	}
	return nil
}

// RemoveMember takes who out of group: the owner removes anyone else, a member leaves (who = uid).
func (s *Service) RemoveMember(ctx context.Context, uid, group, who int64) error {
	g, err := s.store.Group(ctx, group)
	if err != nil {
		return err
	}
	switch {
	case who == g.Owner:
		return ErrOwnerLeaves
	case who != uid && uid != g.Owner:
		return ErrNotOwner
	}
	ok, err := s.store.RemoveMember(ctx, group, who)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotMember.Withf("user %d is not a member", who)
	}
	s.notify(ctx, []int64{who}, "IM_GROUP_LEAVE", map[string]int64{"group_id": group, "uid": who})
	return nil
}

// GroupView is one of a user's groups as a list shows it.
type GroupView struct {
	Group
	ReadID int64    `json:"read_id"`
	Unread int      `json:"unread"` // at most 100
	Muted  bool     `json:"muted"`
	Last   *Message `json:"last,omitempty"`
}

// GroupPage is a page of a user's groups, the most recently active first; Next continues it.
type GroupPage struct {
	Items []GroupView `json:"items"`
	Next  string      `json:"next"`
}

// Groups lists uid's groups after cursor ("" = the top), with each one's unread count (read
// diffusion: counted from the member's read position, at most 100) and last message.
func (s *Service) Groups(ctx context.Context, uid int64, cursor string, limit int) (GroupPage, error) {
	var mt, gid int64
	if cursor != "" {
		a, b, ok := strings.Cut(cursor, "_")
		var e1, e2 error
		mt, e1 = strconv.ParseInt(a, 10, 64)
		gid, e2 = strconv.ParseInt(b, 10, 64)
		if !ok || e1 != nil || e2 != nil || mt <= 0 || gid <= 0 {
			return GroupPage{}, ErrBadInput.Withf("cursor %q is not one this API gave", cursor)
		}
	}
	limit = min(max(limit, 1), maxPage)
	ms, gs, err := s.store.Groups(ctx, uid, mt, gid, limit)
	if err != nil {
		return GroupPage{}, err
	}
	out := GroupPage{Items: make([]GroupView, len(gs))}
	for i, g := range gs {
		v := GroupView{Group: g, ReadID: ms[i].ReadID, Muted: ms[i].Muted}
		if g.LastID > max(ms[i].ReadID, ms[i].JoinedID) {
			if v.Unread, err = s.store.Unread(ctx, g.ID, uid, max(ms[i].ReadID, ms[i].JoinedID), unreadCap); err != nil {
				return GroupPage{}, err
			}
		}
		if g.LastID > ms[i].JoinedID {
			if m, ok, err := s.store.Message(ctx, g.LastID); err != nil {
				return GroupPage{}, err
			} else if ok {
				v.Last = &m
			}
		}
		out.Items[i] = v
	}
	if len(gs) == limit {
		last := gs[len(gs)-1]
		out.Next = strconv.FormatInt(last.Mtime, 10) + "_" + strconv.FormatInt(last.ID, 10)
	}
	return out, nil
}

// History is a page of a group's messages, newest first, and where it was read: "hot" (the
// Redis tier, which may trail the queue by its consumer's delay) or "store".
type History struct {
	Items  []Message `json:"items"`
	Source string    `json:"source"`
}

// History returns a member's page of the group's messages (those since they joined), newest
// first: from the hot tier when it holds the page, else from the store.
func (s *Service) History(ctx context.Context, uid, group, before int64, limit int) (History, error) {
	mb, err := s.member(ctx, group, uid)
	if err != nil {
		return History{}, err
	}
	msgs, source, err := s.historyThrough(ctx, group, mb.JoinedID, before, min(max(limit, 1), maxPage))
	if msgs == nil {
		msgs = []Message{}
	}
	return History{Items: msgs, Source: source}, err
}

// MarkRead moves a member's read position forward and tells their other devices.
func (s *Service) MarkRead(ctx context.Context, uid, group, upto int64) (Member, error) {
	before, err := s.member(ctx, group, uid)
	if err != nil {
		return Member{}, err
	}
	mb, err := s.store.MarkRead(ctx, group, uid, upto)
	if err == nil && mb.ReadID > before.ReadID {
		s.notify(ctx, []int64{uid}, "IM_GROUP_READ", map[string]int64{"group_id": group, "read_id": mb.ReadID})
	}
	return mb, err
}

// Members lists a group's members (to its members), by uid after `after`.
func (s *Service) Members(ctx context.Context, uid, group, after int64, limit int) ([]Member, error) {
	if _, err := s.member(ctx, group, uid); err != nil {
		return nil, err
	}
	return s.store.Members(ctx, group, after, min(max(limit, 1), 1000))
}

// Recall blanks a group message its sender sent within the recall window; every member gets
// IM_GROUP_RECALL.
func (s *Service) Recall(ctx context.Context, uid, id int64) (Message, error) {
	if s.cfg.RecallWindow == 0 {
		return Message{}, ErrRecallLate.Withf("recalling messages is switched off")
	}
	m, err := s.store.Recall(ctx, uid, id, s.now().Add(-s.cfg.RecallWindow).UnixMilli())
	if err != nil {
		return Message{}, err
	}
	s.recalled(ctx, m)
	for after := int64(0); ; {
		members, err := s.store.Members(ctx, m.GroupID, after, pushChunk)
		if err != nil || len(members) == 0 {
			break
		}
		uids := make([]int64, len(members))
		for i, mb := range members {
			uids[i] = mb.UID
		}
		s.notify(ctx, uids, "IM_GROUP_RECALL", map[string]int64{"group_id": m.GroupID, "id": m.ID})
		if after = uids[len(uids)-1]; len(members) < pushChunk {
			break
		}
	}
	return m, nil
}
