package group

import (
	_ "embed"
	"net/http"
	"slices"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is the OpenAPI 3.1 fragment describing the routes Register adds.
func OpenAPI() []byte { return slices.Clone(openapi) }

// Register adds the component's routes to mux; every route acts as the signed-in user.
func (s *Service) Register(mux *http.ServeMux) {
	h := func(fn func(w http.ResponseWriter, r *http.Request, uid int64) error) http.Handler {
		return httpx.HandleUser(s.log, fn)
	}
	mux.Handle("POST /api/im/groups", h(s.handleCreate))
	mux.Handle("GET /api/im/groups", h(s.handleGroups))
	mux.Handle("GET /api/im/groups/{id}/members", h(s.handleMembers))
	mux.Handle("POST /api/im/groups/{id}/members", h(s.handleAdd))
	mux.Handle("DELETE /api/im/groups/{id}/members/{uid}", h(s.handleRemove))
	mux.Handle("POST /api/im/groups/{id}/messages", h(s.handleSend))
	mux.Handle("GET /api/im/groups/{id}/messages", h(s.handleHistory))
	mux.Handle("POST /api/im/groups/{id}/read", h(s.handleRead))
	mux.Handle("POST /api/im/group-messages/{id}/recall", h(s.handleRecall))
}

type createRequest struct {
	Name    string  `json:"name"`
	Members []int64 `json:"members"`
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request, uid int64) error {
	var in createRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	g, err := s.Create(r.Context(), uid, in.Name, in.Members)
	if err != nil {
		return err
	}
	return httpx.OK(w, g)
}

func (s *Service) handleGroups(w http.ResponseWriter, r *http.Request, uid int64) error {
	limit, err := httpx.QueryInt(r, "limit", 20, 1, maxPage)
	if err != nil {
		return err
	}
	p, err := s.Groups(r.Context(), uid, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, p)
}

func queryID(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, apierr.BadRequest.Withf("query parameter %s must be an id", name)
	}
	return id, nil
}

func (s *Service) handleMembers(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	after, err := queryID(r, "after")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 200, 1, 1000)
	if err != nil {
		return err
	}
	ms, err := s.Members(r.Context(), uid, id, after, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string][]Member{"items": ms})
}

type addRequest struct {
	UIDs []int64 `json:"uids"`
}

func (s *Service) handleAdd(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	var in addRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, err := s.AddMembers(r.Context(), uid, id, in.UIDs)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string]int{"added": n})
}

func (s *Service) handleRemove(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	who, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	if err := s.RemoveMember(r.Context(), uid, id, who); err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"removed": who})
}

type sendResponse struct {
	Message
	Replay bool `json:"replay"`
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	var in SendInput
	if err := httpx.DecodeLimit(w, r, &in, 1024+12*int64(s.cfg.MaxRunes)); err != nil {
		s.m.refused.WithLabelValues("bad_input").Inc()
		return err
	}
	m, replay, err := s.Send(r.Context(), uid, id, in)
	if err != nil {
		return err
	}
	return httpx.OK(w, sendResponse{Message: m, Replay: replay})
}

func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	before, err := queryID(r, "before")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 50, 1, maxPage)
	if err != nil {
		return err
	}
	page, err := s.History(r.Context(), uid, id, before, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}

type readRequest struct {
	ReadID int64 `json:"read_id"`
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	var in readRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if in.ReadID <= 0 {
		return ErrBadInput.Withf("read_id must be a message id")
	}
	mb, err := s.MarkRead(r.Context(), uid, id, in.ReadID)
	if err != nil {
		return err
	}
	return httpx.OK(w, mb)
}

func (s *Service) handleRecall(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	m, err := s.Recall(r.Context(), uid, id)
	if err != nil {
		return err
	}
	return httpx.OK(w, m)
}
