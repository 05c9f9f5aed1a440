package room

import (
	"context"
	"net/http"
	"slices"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Feature switches: modules of the room page an operator turns off, in one room or in every
// room. The room component keeps them — a room's own in its row, the global ones in its
// settings table — so that the one room read a caller makes carries them (Room.Off). The room
// page's BFF skips a switched-off module without calling its component; gift refuses a send
// while "gifts" is off and danmaku a comment while "comments" is off.
const (
	SwitchGifts    = "gifts"    // the gift catalog, the viewer's wallet and sending gifts
	SwitchComments = "comments" // recent comments, the viewer's mute state and sending comments
	SwitchRank     = "rank"     // the gift rank
)

// Switches are the modules a switch can turn off.
var Switches = []string{SwitchComments, SwitchGifts, SwitchRank}

// IsOff reports whether module is switched off for the room.
func (r Room) IsOff(module string) bool { return slices.Contains(r.Off, module) }

// normSwitches checks a list of switched-off modules and returns it sorted without repeats.
func normSwitches(off []string) ([]string, error) {
	out := make([]string, 0, len(off))
	for _, m := range off {
		if !slices.Contains(Switches, m) {
			return nil, ErrBadRoom.Withf("unknown switch %q (want any of comments, gifts, rank)", m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// withGlobal is r with the global switches added to its own, in a new slice (cached rooms are
// shared and never changed).
func (s *Service) withGlobal(r Room) Room {
	global := *s.globalOff.Load()
	if len(global) == 0 {
		return r
	}
	off := slices.Clone(r.Off)
	for _, m := range global {
		if !slices.Contains(off, m) {
			off = append(off, m)
		}
	}
	slices.Sort(off)
	r.Off = off
	return r
}

// loadGlobalSwitches reads the global switches into memory. It holds switchesMu from the
// read to the store, as SetGlobalSwitches does from its write to its store: a reload that
// read before a change made here cannot put the old switches back after it.
func (s *Service) loadGlobalSwitches(ctx context.Context) error {
	s.switchesMu.Lock()
	defer s.switchesMu.Unlock()
	off, err := s.store.GlobalSwitches(ctx)
	if err != nil {
		return err
	}
	s.globalOff.Store(&off)
	return nil
}

// reloadSwitches reloads the global switches, within one SwitchesRefresh.
func (s *Service) reloadSwitches() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SwitchesRefresh)
	defer cancel()
	if err := s.loadGlobalSwitches(ctx); err != nil {
		s.log.Warn("global switches not reloaded, keeping the last ones", "err", err)
	}
}

// SetRoomSwitches replaces the modules switched off in room id (an operator's call: the
// admin route checks who asks) and returns the room with its own switches.
func (s *Service) SetRoomSwitches(ctx context.Context, id int64, off []string) (Room, error) {
	off, err := normSwitches(off)
	if err != nil {
		return Room{}, err
	}
	r, err := s.store.SetSwitches(ctx, id, off, s.now().UnixMilli())
	if err != nil {
		return Room{}, err
	}
	s.invalidate(ctx, id)
	return r, nil
}

// SetGlobalSwitches replaces the modules switched off in every room; this process applies
// them at once, the other room processes within SwitchesRefresh.
func (s *Service) SetGlobalSwitches(ctx context.Context, off []string) ([]string, error) {
	off, err := normSwitches(off)
	if err != nil {
		return nil, err
	}
	s.switchesMu.Lock()
	defer s.switchesMu.Unlock()
	if err := s.store.SetGlobalSwitches(ctx, off, s.now().UnixMilli()); err != nil {
		return nil, err
	}
	s.globalOff.Store(&off)
	return off, nil
}

// SwitchesView is what the switch admin routes answer.
type SwitchesView struct {
	// Off are the modules switched off at this level (the room's own, or the global ones).
	Off []string `json:"off"`
	// GlobalOff are the global ones, shown with a room's.
	GlobalOff []string `json:"global_off,omitempty"`
}

type switchesBody struct {
	Off []string `json:"off"`
}

func (s *Service) registerSwitches(mux *http.ServeMux) {
	h := func(f httpx.HandlerFunc) http.Handler { return httpx.Handle(s.log, f) }
	mux.Handle("GET /api/admin/switches", h(s.handleGetGlobalSwitches))
	mux.Handle("PUT /api/admin/switches", h(s.handlePutGlobalSwitches))
	mux.Handle("GET /api/admin/rooms/{id}/switches", h(s.handleGetRoomSwitches))
	mux.Handle("PUT /api/admin/rooms/{id}/switches", h(s.handlePutRoomSwitches))
}

func (s *Service) handleGetGlobalSwitches(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	off, err := s.store.GlobalSwitches(r.Context())
	if err != nil {
		return err
	}
	return httpx.OK(w, SwitchesView{Off: off})
}

func (s *Service) handlePutGlobalSwitches(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireAdmin(r, s.deps.IsAdmin)
	if err != nil {
		return err
	}
	var body switchesBody
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	off, err := s.SetGlobalSwitches(r.Context(), body.Off)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "global switches set", "off", off, "admin", uid)
	return httpx.OK(w, SwitchesView{Off: off})
}

func (s *Service) handleGetRoomSwitches(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	rm, err := s.store.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return httpx.OK(w, SwitchesView{Off: rm.Off, GlobalOff: *s.globalOff.Load()})
}

func (s *Service) handlePutRoomSwitches(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireAdmin(r, s.deps.IsAdmin)
	if err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	var body switchesBody
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	rm, err := s.SetRoomSwitches(r.Context(), id, body.Off)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "room switches set", "room", id, "off", rm.Off, "admin", uid)
	return httpx.OK(w, SwitchesView{Off: rm.Off, GlobalOff: *s.globalOff.Load()})
}
