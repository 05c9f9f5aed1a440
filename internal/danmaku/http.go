package danmaku

import (
	_ "embed"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is the OpenAPI 3.1 fragment describing the routes Register adds.
func OpenAPI() []byte { return slices.Clone(openapi) }

// Register adds the component's routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/rooms/{id}/danmaku", httpx.Handle(s.log, s.handleSend))
	mux.Handle("GET /api/rooms/{id}/danmaku", httpx.Handle(s.log, s.handleHistory))
	mux.Handle("POST /api/rooms/{id}/mutes", httpx.Handle(s.log, s.handleMute))
	mux.Handle("DELETE /api/rooms/{id}/mutes/{uid}", httpx.Handle(s.log, s.handleUnmute))
	mux.Handle("GET /api/rooms/{id}/mutes", httpx.Handle(s.log, s.handleMutes))
}

// sendRequest is the body of POST /api/rooms/{id}/danmaku. Color and mode are optional;
// 0 (or absent) means white and scroll. ReplyTo, optional, is the id of the earlier comment
// of the room this one answers.
type sendRequest struct {
	Text    string `json:"text"`
	Color   int    `json:"color"`
	Mode    int    `json:"mode"`
	ReplyTo int64  `json:"reply_to"`
}

type idResponse struct {
	ID int64 `json:"id"`
}

type itemsResponse[T any] struct {
	Items []T `json:"items"`
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) error {
	uid, roomID, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	rm, err := s.getRoom(r.Context(), roomID)
	if err != nil {
		return err
	}
	var req sendRequest
	if err := httpx.DecodeLimit(w, r, &req, s.sendBodyLimit()); err != nil {
		s.metrics.rejected.WithLabelValues(reasonBadInput).Inc()
		return err
	}
	id, err := s.send(r.Context(), rm, uid, req.Text, req.Color, req.Mode, req.ReplyTo)
	if err != nil {
		var le *limitedError
		if errors.As(err, &le) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(le.retryAfter)))))
		}
		return err
	}
	return httpx.OK(w, idResponse{ID: id})
}

// sendBodyLimit leaves room for max_runes characters each written as a JSON-escaped UTF-16
// surrogate pair ("\ud83d\ude00", 12 bytes), plus the other fields.
func (s *Service) sendBodyLimit() int64 {
	return 1024 + 12*int64(s.cfg.MaxRunes)
}

func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request) error {
	roomID, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", s.cfg.HistorySize, 1, s.cfg.HistorySize)
	if err != nil {
		return err
	}
	if _, err := s.getRoom(r.Context(), roomID); err != nil {
		return err
	}
	items, err := s.History(r.Context(), roomID, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, itemsResponse[Comment]{Items: items})
}

// muteRequest is the body of POST /api/rooms/{id}/mutes.
type muteRequest struct {
	UID int64 `json:"uid"`
}

type unmuteResponse struct {
	UID     int64 `json:"uid"`
	Removed bool  `json:"removed"`
}

func (s *Service) handleMute(w http.ResponseWriter, r *http.Request) error {
	uid, roomID, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	rm, err := s.ownedRoom(r.Context(), roomID, uid)
	if err != nil {
		return err
	}
	var req muteRequest
	if err := httpx.Decode(w, r, &req); err != nil {
		return err
	}
	m, err := s.mute(r.Context(), rm, req.UID)
	if err != nil {
		return err
	}
	return httpx.OK(w, m)
}

func (s *Service) handleUnmute(w http.ResponseWriter, r *http.Request) error {
	uid, roomID, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	target, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	removed, err := s.Unmute(r.Context(), roomID, uid, target)
	if err != nil {
		return err
	}
	return httpx.OK(w, unmuteResponse{UID: target, Removed: removed})
}

func (s *Service) handleMutes(w http.ResponseWriter, r *http.Request) error {
	uid, roomID, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 200, 1, maxMutesListed)
	if err != nil {
		return err
	}
	items, err := s.Mutes(r.Context(), roomID, uid, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, itemsResponse[MutedUser]{Items: items})
}
