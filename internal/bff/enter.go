package bff

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Enter is the room page: GET /api/room/enter. Room, Playback and Switches come with the one
// room read; every other field is a module: its value, {"degraded": true}
// when its component failed or was late, or {"off": true} when a switch turned it off.
type Enter struct {
	Room room.View `json:"room"`
	// Playback are the stream's playback URLs on the page's origin while the room is live
	// (null otherwise): HTTP-FLV and HLS from the media component (docs/media.md).
	Playback *room.PlayURLs `json:"playback"`
	// Switches say which switchable modules are on (true) or off (false) in this room.
	Switches  map[string]bool `json:"switches"`
	DanmuInfo any             `json:"danmu_info"` // logic.DanmuInfo: token and hosts of the long connection
	Comments  any             `json:"comments"`   // Comments
	Gifts     any             `json:"gifts"`      // Gifts: the catalog
	Wallet    any             `json:"wallet"`     // Wallet; null for a guest
	Rank      any             `json:"rank"`       // Rank
	Viewer    any             `json:"viewer"`     // Viewer
	// Anchor is the anchor's follow counts and whether the viewer follows them
	// (account.Relation); null when no account component is reachable from here.
	Anchor any `json:"anchor"`
}

// Comments is the room's recent comments, oldest first.
type Comments struct {
	Items []danmaku.Comment `json:"items"`
}

// Gifts is the gift catalog.
type Gifts struct {
	Items []gift.Gift `json:"items"`
}

// Wallet is the viewer's balance.
type Wallet struct {
	Balance int64 `json:"balance"`
}

// Rank is the room's gift rank; AnchorScore is absent when the room never got a gift (its
// TAGs say so) and the rank was not read.
type Rank struct {
	Items       []gift.RankEntry `json:"items"`
	AnchorScore *int64           `json:"anchor_score,omitempty"`
}

// Viewer is the viewer's relation to the room.
type Viewer struct {
	UID   int64 `json:"uid"` // 0 = guest
	Owner bool  `json:"owner"`
	Muted bool  `json:"muted"`
}

func (s *Service) handleEnter(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	if err != nil || id <= 0 {
		return apierr.BadRequest.Withf("query parameter id must be a positive room id")
	}
	page, err := s.Enter(r, id)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}

// Enter builds the room page of room id for the request's user. A hot room's record and the
// modules every viewer sees alike (comments, gift catalog, rank) come from process memory
// (hot.go) when this BFF keeps its page; the viewer's own modules are always fetched.
func (s *Service) Enter(r *http.Request, id int64) (Enter, error) {
	ctx := r.Context()
	viewer, _ := httpx.UID(ctx)
	hp := s.hotPage(id, viewer)
	var rm room.Room
	var view room.View
	if hp != nil {
		rm, view = hp.rm, hp.view
		s.m.hotServed.WithLabelValues(modRoom).Inc()
	} else {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RoomTimeout)
		var err error
		rm, view, err = s.deps.Rooms.View(rctx, id, viewer)
		cancel()
		if err != nil {
			return Enter{}, peerError("room", err)
		}
	}
	page := Enter{Room: view, Switches: map[string]bool{}}
	if view.Live != nil {
		page.Playback = view.Live.Play
	}
	for _, sw := range room.Switches {
		page.Switches[sw] = !rm.IsOff(sw)
	}
	var mods []module
	add := func(name string, run func(ctx context.Context) (any, error)) {
		mods = append(mods, module{name: name, run: run})
	}
	add(modDanmuInfo, func(ctx context.Context) (any, error) { return s.deps.DanmuInfo(r.WithContext(ctx), rm.ID) })

	// The modules every viewer sees alike: from memory for a hot room, else fetched.
	got := map[string]any{}
	for _, m := range s.sharedModules(rm) {
		if v, ok := hp.module(m.name); ok {
			got[m.name] = v
			s.m.hotServed.WithLabelValues(m.name).Inc()
			continue
		}
		mods = append(mods, m)
	}
	if rm.IsOff(room.SwitchComments) {
		page.Comments = Off{Off: true}
		s.skip(modComments, skipSwitch)
	}

	switch {
	case rm.IsOff(room.SwitchGifts):
		page.Gifts, page.Wallet = Off{Off: true}, Off{Off: true}
		s.skip(modGifts, skipSwitch)
		s.skip(modWallet, skipSwitch)
	case viewer == 0:
		s.skip(modWallet, skipGuest) // Wallet stays null
	default:
		add(modWallet, func(ctx context.Context) (any, error) {
			b, err := s.deps.Gifts.Balance(ctx, viewer)
			return Wallet{Balance: b}, err
		})
	}

	switch {
	case rm.IsOff(room.SwitchRank):
		page.Rank = Off{Off: true}
		s.skip(modRank, skipSwitch)
	case !slices.Contains(rm.Tags, gift.RankTag):
		page.Rank = Rank{Items: []gift.RankEntry{}} // never got a gift: nothing to read
		s.skip(modRank, skipTag)
	}

	me := Viewer{UID: viewer, Owner: viewer != 0 && viewer == rm.OwnerUID}
	switch {
	case viewer == 0:
		page.Viewer = me
		s.skip(modViewer, skipGuest)
	case rm.IsOff(room.SwitchComments):
		page.Viewer = me // muted only matters to comments
		s.skip(modViewer, skipSwitch)
	default:
		add(modViewer, func(ctx context.Context) (any, error) {
			v := me
			var err error
			v.Muted, err = s.deps.Danmaku.IsMuted(ctx, rm.ID, viewer)
			return v, err
		})
	}

	if s.deps.Accounts != nil {
		if v, ok := hp.module(modAnchor); ok {
			// A hot room: the anchor's counts from memory, the viewer's follow edges (one
			// read) fetched — nothing at all for a guest.
			s.m.hotServed.WithLabelValues(modAnchor).Inc()
			counts := v.(account.Relation)
			if viewer == 0 || viewer == rm.OwnerUID {
				got[modAnchor] = counts
			} else {
				add(modAnchor, func(ctx context.Context) (any, error) { return s.viewerRelation(ctx, counts, viewer) })
			}
		} else {
			add(modAnchor, func(ctx context.Context) (any, error) { return s.deps.Accounts.Relation(ctx, viewer, rm.OwnerUID) })
		}
	}

	maps.Copy(got, s.fetch(ctx, mods))
	for name, v := range got {
		switch name {
		case modDanmuInfo:
			page.DanmuInfo = v
		case modComments:
			page.Comments = v
		case modGifts:
			page.Gifts = v
		case modWallet:
			page.Wallet = v
		case modRank:
			page.Rank = v
		case modViewer:
			page.Viewer = v
		case modAnchor:
			page.Anchor = v
		}
	}
	return page, nil
}

// sharedModules are the modules of rm's page that every viewer sees alike and that its
// switches and TAGs leave on: comments, the gift catalog and the rank.
func (s *Service) sharedModules(rm room.Room) []module {
	var mods []module
	if !rm.IsOff(room.SwitchComments) {
		mods = append(mods, module{name: modComments, run: func(ctx context.Context) (any, error) {
			items, err := s.deps.Danmaku.History(ctx, rm.ID, s.cfg.Comments)
			if items == nil {
				items = []danmaku.Comment{}
			}
			return Comments{Items: items}, err
		}})
	}
	if !rm.IsOff(room.SwitchGifts) {
		mods = append(mods, module{name: modGifts, run: func(ctx context.Context) (any, error) {
			gs, err := s.deps.Gifts.Gifts(ctx)
			if gs == nil {
				gs = []gift.Gift{}
			}
			return Gifts{Items: gs}, err
		}})
	}
	if !rm.IsOff(room.SwitchRank) && slices.Contains(rm.Tags, gift.RankTag) {
		mods = append(mods, module{name: modRank, run: func(ctx context.Context) (any, error) {
			rk, err := s.deps.Gifts.RankOf(ctx, rm, s.cfg.RankSize)
			if rk.Items == nil {
				rk.Items = []gift.RankEntry{}
			}
			return Rank{Items: rk.Items, AnchorScore: &rk.AnchorScore}, err
		}})
	}
	return mods
}

// viewerRelation is the anchor's relation for viewer: counts as kept in memory, and whether
// viewer and the anchor follow each other, asked in one call.
func (s *Service) viewerRelation(ctx context.Context, counts account.Relation, viewer int64) (account.Relation, error) {
	f, err := s.deps.Accounts.Follows(ctx, []account.FollowPair{{Follower: viewer, Followee: counts.UID}, {Follower: counts.UID, Followee: viewer}})
	if err != nil {
		return account.Relation{}, err
	}
	if len(f) != 2 {
		return account.Relation{}, fmt.Errorf("account: %d follow answers for 2 pairs", len(f))
	}
	counts.Followed, counts.FollowsYou = f[0], f[1]
	return counts, nil
}

// peerError keeps a component's error kind (404, 400 …) and turns anything else — a timeout,
// a refused connection — into Unavailable (503).
func peerError(what string, err error) error {
	var e *apierr.Error
	if errors.As(err, &e) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return apierr.Unavailable.Wrap(fmt.Errorf("%s: %w", what, err))
}
