package room

import (
	"net/http"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/hotpin"
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
	// PinnedKeys are the cache keys pinned hot through POST /api/admin/hot/keys/{key}, as
	// this process last saw them.
	PinnedKeys []hotpin.Pin `json:"pinned_keys"`
}

// maxPin bounds how long ahead a room or key may be pinned hot.
const maxPin = hotpin.MaxPin

// KeyPins lists the key pins in force (the process's view of the shared pins).
type KeyPins func() []hotpin.Pin

func (s *Service) registerAdmin(mux *http.ServeMux) {
	h := func(f httpx.HandlerFunc) http.Handler { return httpx.Handle(s.log, f) }
	mux.Handle("GET /api/admin/hot", h(s.handleHot))
	mux.Handle("POST /api/admin/hot/rooms/{id}", h(s.handlePin))
	mux.Handle("DELETE /api/admin/hot/rooms/{id}", h(s.handleUnpin))
	mux.Handle("POST /api/admin/hot/keys/{key}", h(s.handlePinKey))
	mux.Handle("DELETE /api/admin/hot/keys/{key}", h(s.handleUnpinKey))
}

// SetKeyPins lets the process show the key pins it applies in /api/admin/hot.
func (s *Service) SetKeyPins(f KeyPins) {
	s.hotKeysMu.Lock()
	defer s.hotKeysMu.Unlock()
	s.keyPins = f
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
	if s.keyPins != nil {
		v.PinnedKeys = s.keyPins()
	}
	s.hotKeysMu.Unlock()
	if v.PinnedKeys == nil {
		v.PinnedKeys = []hotpin.Pin{}
	}
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
	until, reason, err := s.pinBody(w, r)
	if err != nil {
		return err
	}
	if _, err := s.store.Get(r.Context(), id); err != nil {
		return err
	}
	if s.deps.Pins != nil {
		if err := s.deps.Pins.PinRoom(r.Context(), id, until, reason); err != nil {
			return apierr.Unavailable.Wrap(err)
		}
	}
	s.hot.PinRoom(id, until, reason) // here at once; other processes as they see the shared pin
	s.log.InfoContext(r.Context(), "room pinned hot", "room", id, "until", until, "reason", reason)
	return httpx.OK(w, hotroom.Pin{Until: until, Reason: reason})
}

// pinBody reads {"for": "2h", "reason": "…"} and returns when the pin ends.
func (s *Service) pinBody(w http.ResponseWriter, r *http.Request) (time.Time, string, error) {
	var body struct {
		For    string `json:"for"`
		Reason string `json:"reason"`
	}
	if err := httpx.Decode(w, r, &body); err != nil {
		return time.Time{}, "", err
	}
	d, err := time.ParseDuration(body.For)
	if err != nil || d < time.Second || d > maxPin {
		return time.Time{}, "", apierr.BadRequest.Withf(`"for" must be a duration such as "2h", from 1s to %s`, maxPin)
	}
	if len(body.Reason) > 200 || strings.ContainsFunc(body.Reason, func(r rune) bool { return r < 0x20 }) {
		return time.Time{}, "", apierr.BadRequest.Withf("reason must be at most 200 characters of text")
	}
	return s.now().Add(d), body.Reason, nil
}

// handlePinKey pins a cache key hot in every process (see hotpin.Caches for what each key
// names); it needs the shared pins.
func (s *Service) handlePinKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, _, err := hotpin.SplitKey(key); err != nil {
		return apierr.BadRequest.Withf("%s", err.Error())
	}
	until, reason, err := s.pinBody(w, r)
	if err != nil {
		return err
	}
	if s.deps.Pins == nil {
		return apierr.Unavailable.Withf("key pins need the shared queue")
	}
	if err := s.deps.Pins.PinKey(r.Context(), key, until, reason); err != nil {
		return apierr.Unavailable.Wrap(err)
	}
	s.log.InfoContext(r.Context(), "key pinned hot", "key", key, "until", until, "reason", reason)
	return httpx.OK(w, hotpin.Pin{Key: key, Until: until, Reason: reason})
}

func (s *Service) handleUnpinKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, _, err := hotpin.SplitKey(key); err != nil {
		return apierr.BadRequest.Withf("%s", err.Error())
	}
	if s.deps.Pins == nil {
		return apierr.Unavailable.Withf("key pins need the shared queue")
	}
	if err := s.deps.Pins.UnpinKey(r.Context(), key); err != nil {
		return apierr.Unavailable.Wrap(err)
	}
	return httpx.OK(w, map[string]string{"key": key})
}

func (s *Service) handleUnpin(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	if s.deps.Pins != nil {
		if err := s.deps.Pins.UnpinRoom(r.Context(), id); err != nil {
			return apierr.Unavailable.Wrap(err)
		}
	}
	s.hot.Unpin(id)
	return httpx.OK(w, map[string]int64{"id": id})
}
