package chat

import (
	_ "embed"
	"errors"
	"math"
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

// Register adds the component's routes to mux. Every route acts as the signed-in user.
func (s *Service) Register(mux *http.ServeMux) {
	h := func(fn func(w http.ResponseWriter, r *http.Request, uid int64) error) http.Handler {
		return httpx.HandleUser(s.log, fn)
	}
	mux.Handle("POST /api/im/messages", h(s.handleSend))
	mux.Handle("POST /api/im/messages/{id}/recall", h(s.handleRecall))
	mux.Handle("DELETE /api/im/messages/{id}", h(s.handleDelete))
	mux.Handle("GET /api/im/conversations", h(s.handleConversations))
	mux.Handle("GET /api/im/conversations/{peer}/messages", h(s.handleHistory))
	mux.Handle("POST /api/im/conversations/{peer}/read", h(s.handleRead))
	mux.Handle("PUT /api/im/conversations/{peer}/mute", h(s.handleMute))
	mux.Handle("GET /api/im/unread", h(s.handleUnread))
	mux.Handle("GET /api/im/sync", h(s.handleSync))
	mux.Handle("GET /api/im/blocks", h(s.handleBlocks))
	mux.Handle("PUT /api/im/blocks/{uid}", h(s.handleBlock))
	mux.Handle("DELETE /api/im/blocks/{uid}", h(s.handleUnblock))
	mux.Handle("GET /api/im/settings", h(s.handleSettings))
	mux.Handle("PUT /api/im/settings", h(s.handleSetSettings))
	mux.Handle("GET /api/im/services/{sid}/conversations", h(s.handleServiceConversations))
	mux.Handle("GET /api/im/services/{sid}/conversations/{peer}/messages", h(s.handleServiceHistory))
	mux.Handle("POST /api/im/services/{sid}/conversations/{peer}/read", h(s.handleServiceRead))
	mux.Handle("POST /api/im/services/{sid}/messages", h(s.handleServiceSend))
	mux.Handle("PUT /api/im/services/{sid}/conversations/{peer}/agent", h(s.handleServiceReassign))
	mux.Handle("GET /api/im/services/{sid}/agents", h(s.handleServiceAgents))
}

// sendResponse is a message accepted (or, with replay, the one a client id named first).
type sendResponse struct {
	Message
	Replay bool `json:"replay"`
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request, uid int64) error {
	var in SendInput
	if err := httpx.DecodeLimit(w, r, &in, 1024+12*int64(s.cfg.MaxRunes)); err != nil {
		s.m.refused.WithLabelValues(reasonBadInput).Inc()
		return err
	}
	m, replay, err := s.Send(r.Context(), uid, in)
	if err != nil {
		var le *limitedError
		if errors.As(err, &le) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(le.retryAfter)))))
		}
		return err
	}
	return httpx.OK(w, sendResponse{Message: m, Replay: replay})
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

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	if err := s.Delete(r.Context(), uid, id); err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"deleted": id})
}

func (s *Service) handleConversations(w http.ResponseWriter, r *http.Request, uid int64) error {
	limit, err := httpx.QueryInt(r, "limit", 20, 1, maxPageLimit)
	if err != nil {
		return err
	}
	folder, err := ParseFolder(r.URL.Query().Get("folder"))
	if err != nil {
		return err
	}
	page, err := s.Conversations(r.Context(), uid, folder, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}

func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request, uid int64) error {
	peer, err := httpx.PathInt64(r, "peer")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 50, 1, maxPageLimit)
	if err != nil {
		return err
	}
	before, err := queryID(r, "before")
	if err != nil {
		return err
	}
	c, err := s.History(r.Context(), uid, peer, before, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, c)
}

// queryID reads an optional id from the query (0 when absent).
func queryID(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, apierr.BadRequest.Withf("query parameter %s must be a message id", name)
	}
	return id, nil
}

type readRequest struct {
	ReadID int64 `json:"read_id"`
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request, uid int64) error {
	peer, err := httpx.PathInt64(r, "peer")
	if err != nil {
		return err
	}
	var in readRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	c, err := s.MarkRead(r.Context(), uid, peer, in.ReadID)
	if err != nil {
		return err
	}
	return httpx.OK(w, c)
}

type muteRequest struct {
	Muted bool `json:"muted"`
}

func (s *Service) handleMute(w http.ResponseWriter, r *http.Request, uid int64) error {
	peer, err := httpx.PathInt64(r, "peer")
	if err != nil {
		return err
	}
	var in muteRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.SetMuted(r.Context(), uid, peer, in.Muted); err != nil {
		return err
	}
	return httpx.OK(w, in)
}

func (s *Service) handleUnread(w http.ResponseWriter, r *http.Request, uid int64) error {
	n, err := s.Unread(r.Context(), uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"total": n})
}

func (s *Service) handleSync(w http.ResponseWriter, r *http.Request, uid int64) error {
	after, err := queryID(r, "after")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 200, 1, maxPageLimit)
	if err != nil {
		return err
	}
	page, err := s.Sync(r.Context(), uid, after, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}

func (s *Service) handleBlocks(w http.ResponseWriter, r *http.Request, uid int64) error {
	limit, err := httpx.QueryInt(r, "limit", 100, 1, maxPageLimit)
	if err != nil {
		return err
	}
	list, err := s.Blocks(r.Context(), uid, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string][]int64{"items": list})
}

func (s *Service) handleBlock(w http.ResponseWriter, r *http.Request, uid int64) error {
	other, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	if err := s.Block(r.Context(), uid, other); err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"blocked": other})
}

func (s *Service) handleUnblock(w http.ResponseWriter, r *http.Request, uid int64) error {
	other, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	if err := s.Unblock(r.Context(), uid, other); err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"unblocked": other})
}

func (s *Service) handleSettings(w http.ResponseWriter, r *http.Request, uid int64) error {
	st, err := s.Settings(r.Context(), uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, st)
}

func (s *Service) handleSetSettings(w http.ResponseWriter, r *http.Request, uid int64) error {
	var st Settings
	if err := httpx.Decode(w, r, &st); err != nil {
		return err
	}
	if err := s.SetSettings(r.Context(), uid, st); err != nil {
		return err
	}
	return httpx.OK(w, st)
}
