package bff

import (
	"context"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Page sizes of the inbox's lists: the defaults of their own routes, and their components'
// largest pages.
const (
	inboxChats     = 20
	inboxMaxChats  = 500 // im-chat's largest page
	inboxGroups    = 20
	inboxMaxGroups = 200 // im-group's largest page
)

// Inbox is what the web inbox opens with: GET /api/im/inbox. Every field is a module: its
// value, {"degraded": true} when its component failed or was late, or null when no component
// serves it (neither in this process nor named in peers).
type Inbox struct {
	Chats   any `json:"chats"`   // chat.Page: the first page of the conversation list
	Unread  any `json:"unread"`  // the unread total of private messages, a number
	Groups  any `json:"groups"`  // group.GroupPage: the first page of the group list
	Notices any `json:"notices"` // unread notices by kind: {"system", "mention", "like", "follow", "reply"}
	// Settings are who may message the user and their do-not-disturb hours (chat.Settings:
	// {"allow", "dnd"}), shown in the inbox's head; the web client's alerts follow the hours.
	Settings any `json:"settings"`
}

func (s *Service) handleInbox(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	folder, err := chat.ParseFolder(r.URL.Query().Get("folder"))
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", inboxChats, 1, inboxMaxChats)
	if err != nil {
		return err
	}
	groups, err := httpx.QueryInt(r, "group_limit", inboxGroups, 1, inboxMaxGroups)
	if err != nil {
		return err
	}
	return httpx.OK(w, s.Inbox(r.Context(), uid, folder, limit, groups))
}

// Inbox builds uid's inbox: the first page of conversations in folder (limit of them), the
// unread total and who may message uid, the first page of groups (groups of them) and the
// unread notices by kind,
// fetched concurrently from im-chat, im-group and im-notice, each within
// bff.im_module_timeout.
func (s *Service) Inbox(ctx context.Context, uid int64, folder, limit, groups int) Inbox {
	var mods []module
	if c := s.deps.Chats; c != nil {
		mods = append(mods,
			module{name: modChats, run: func(ctx context.Context) (any, error) {
				p, err := c.Conversations(ctx, uid, folder, "", limit)
				if p.Items == nil {
					p.Items = []chat.ConversationView{}
				}
				return p, err
			}},
			module{name: modUnread, run: func(ctx context.Context) (any, error) { return c.Unread(ctx, uid) }},
			module{name: modSettings, run: func(ctx context.Context) (any, error) { return c.Settings(ctx, uid) }})
	} else {
		s.skip(modChats, skipAbsent)
		s.skip(modUnread, skipAbsent)
		s.skip(modSettings, skipAbsent)
	}
	if g := s.deps.Groups; g != nil {
		mods = append(mods, module{name: modGroups, run: func(ctx context.Context) (any, error) {
			p, err := g.Groups(ctx, uid, "", groups)
			if p.Items == nil {
				p.Items = []group.GroupView{}
			}
			return p, err
		}})
	} else {
		s.skip(modGroups, skipAbsent)
	}
	if n := s.deps.Notices; n != nil {
		mods = append(mods, module{name: modNotices, run: func(ctx context.Context) (any, error) { return n.UnreadByKind(ctx, uid) }})
	} else {
		s.skip(modNotices, skipAbsent)
	}
	got := s.fetchWithin(ctx, s.cfg.IMModuleTimeout, mods)
	return Inbox{Chats: got[modChats], Unread: got[modUnread], Groups: got[modGroups], Notices: got[modNotices],
		Settings: got[modSettings]}
}
