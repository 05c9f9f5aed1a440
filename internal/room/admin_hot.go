package room

import (
	"net/http"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// HotKeys lists the hot keys a component's detector currently sees, for /api/admin/hot.
type HotKeys func() []HotKey

// HotKey is one detected hot key with its estimated count.
type HotKey struct {
	Key   string `json:"key"`
	Count uint64 `json:"count"`
}

// HotView is the answer of GET /api/admin/hot.
type HotView struct {
	Threshold int64               `json:"threshold"`
	Rooms     []hotroom.Room      `json:"rooms"`
	Keys      map[string][]HotKey `json:"keys"`
}

// maxPin bounds how long ahead a room may be pinned hot.
const maxPin = 7 * 24 * time.Hour

func (s *Service) registerAdmin(mux *http.ServeMux) {
	h := func(f httpx.HandlerFunc) http.Handler { return httpx.Handle(s.log, f) }
	mux.Handle("GET /api/admin/hot", h(s.handleHot))
	mux.Handle("POST /api/admin/hot/rooms/{id}", h(s.handlePin))
	mux.Handle("DELETE /api/admin/hot/rooms/{id}", h(s.handleUnpin))
}

// AddHotKeys lets another component show its detector's keys under name in /api/admin/hot.
func (s *Service) AddHotKeys(name string, keys HotKeys) {
	s.hotKeysMu.Lock()
	defer s.hotKeysMu.Unlock()
	if s.hotKeys == nil {
		s.hotKeys = map[string]HotKeys{}
	}
	s.hotKeys[name] = keys
}

func (s *Service) handleHot(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	threshold := s.hotThreshold.Load()
	if q := r.URL.Query().Get("threshold"); q != "" {
		n, err := httpx.QueryInt(r, "threshold", 0, 1, 1<<30)
		if err != nil {
			return err
		}
		threshold = int64(n)
	}
	v := HotView{Threshold: threshold, Rooms: s.hot.List(threshold), Keys: map[string][]HotKey{}}
	if v.Rooms == nil {
		v.Rooms = []hotroom.Room{}
	}
	s.hotKeysMu.Lock()
	for name, keys := range s.hotKeys {
		v.Keys[name] = keys()
	}
	s.hotKeysMu.Unlock()
	return httpx.OK(w, v)
}

func (s *Service) handlePin(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		For    string `json:"for"`
		Reason string `json:"reason"`
	}
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	d, err := time.ParseDuration(body.For)
	if err != nil || d <= 0 || d > maxPin {
		return apierr.BadRequest.Withf(`"for" must be a duration such as "2h", at most %s`, maxPin)
	}
	if len(body.Reason) > 200 || strings.ContainsFunc(body.Reason, func(r rune) bool { return r < 0x20 }) {
		return apierr.BadRequest.Withf("reason must be at most 200 characters of text")
	}
	if _, err := s.store.Get(r.Context(), id); err != nil {
		return err
	}
	until := s.now().Add(d)
	s.hot.PinRoom(id, until, body.Reason)
	s.log.InfoContext(r.Context(), "room pinned hot", "room", id, "until", until, "reason", body.Reason)
	return httpx.OK(w, hotroom.Pin{Until: until, Reason: body.Reason})
}

func (s *Service) handleUnpin(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	s.hot.Unpin(id)
	return httpx.OK(w, map[string]int64{"id": id})
}
