package bff

import (
	"context"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// handleHome is the home page: GET /api/home, the room list (live rooms first, then by
// popularity) with what each card shows — base, live, anchor and stats — in one call to room
// (room.Page). Cards whose anchor or stats source failed come without that module.
func (s *Service) handleHome(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpx.QueryInt(r, "limit", s.cfg.HomeSize, 1, 1000)
	if err != nil {
		return err
	}
	viewer, _ := httpx.UID(r.Context())
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RoomTimeout)
	defer cancel()
	page, err := s.deps.Rooms.List(ctx, r.URL.Query().Get("cursor"), limit, viewer)
	if err != nil {
		return peerError("room list", err)
	}
	return httpx.OK(w, page)
}
