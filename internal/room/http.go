package room

import (
	_ "embed"
	"errors"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/pkg/fieldmask"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }

// Register mounts the room routes.
func (s *Service) Register(mux *http.ServeMux) {
	h := func(f httpx.HandlerFunc) http.Handler { return httpx.Handle(s.log, f) }
	mux.Handle("POST /api/rooms", h(s.handleCreate))
	mux.Handle("GET /api/rooms", h(s.handleList))
	mux.Handle("GET /api/rooms/{id}", h(s.handleGet))
	mux.Handle("PATCH /api/rooms/{id}", h(s.handleUpdate))
	mux.Handle("POST /api/rooms/{id}/live", h(s.handleLive))
	mux.Handle("POST /api/rooms/{id}/stream-key", h(s.handleRotate))
	mux.Handle("GET /api/me/room", h(s.handleMine))
	mux.Handle("POST /api/rooms/{id}/likes", h(s.handleLike))
	mux.Handle("PUT /api/rooms/{id}/cover", h(s.handlePutCover))
	mux.Handle("GET /api/rooms/{id}/cover", h(s.handleGetCover))
	s.registerAdmin(mux)
	s.registerSwitches(mux)
}

var all = fieldmask.Of(Modules...)

func (s *Service) one(w http.ResponseWriter, r *http.Request, rm Room, mask fieldmask.Mask) error {
	viewer, _ := httpx.UID(r.Context())
	return httpx.OK(w, s.Views(r.Context(), []Room{rm}, mask, viewer)[0])
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	var f Fields
	if err := httpx.Decode(w, r, &f); err != nil {
		return err
	}
	rm, err := s.Create(r.Context(), uid, f)
	if err != nil {
		return err
	}
	return s.one(w, r, rm, all)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	mask, err := fieldmask.Parse(r.URL.Query().Get("mask"), Modules, DefaultModules)
	var ue *fieldmask.UnknownError
	if errors.As(err, &ue) {
		return ErrBadMask.Withf("%s", ue.Error())
	}
	rm, err := s.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return s.one(w, r, rm, mask)
}

func (s *Service) handleMine(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	rm, err := s.Mine(r.Context(), uid)
	if err != nil {
		return err
	}
	return s.one(w, r, rm, all)
}

func (s *Service) handleUpdate(w http.ResponseWriter, r *http.Request) error {
	uid, id, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	var f Fields
	if err := httpx.Decode(w, r, &f); err != nil {
		return err
	}
	rm, err := s.Update(r.Context(), uid, id, f)
	if err != nil {
		return err
	}
	return s.one(w, r, rm, all)
}

func (s *Service) handleLive(w http.ResponseWriter, r *http.Request) error {
	uid, id, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		On *bool `json:"on"`
	}
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	if body.On == nil {
		return ErrBadRoom.Withf(`"on" (true or false) is required`)
	}
	rm, err := s.SetLive(r.Context(), uid, id, *body.On)
	if err != nil {
		return err
	}
	return httpx.OK(w, liveView(rm, uid))
}

func (s *Service) handleRotate(w http.ResponseWriter, r *http.Request) error {
	uid, id, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	rm, err := s.RotateStreamKey(r.Context(), uid, id)
	if err != nil {
		return err
	}
	return httpx.OK(w, liveView(rm, uid))
}

// Page is one page of the room list.
type Page struct {
	Rooms      []View `json:"rooms"`
	NextCursor string `json:"next_cursor"` // empty on the last page
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpx.QueryInt(r, "limit", 20, 1, s.cfg.MaxListLimit)
	if err != nil {
		return err
	}
	viewer, _ := httpx.UID(r.Context())
	page, err := s.List(r.Context(), r.URL.Query().Get("cursor"), limit, viewer)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}
