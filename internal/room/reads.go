package room

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

// SharedCache is the cache shared by every process (Redis), when one is configured.
type SharedCache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Del(ctx context.Context, keys ...string) error
}

// hotPinFor is how long a read of a hot room keeps its key pinned in the detector.
const hotPinFor = time.Minute

// sharedTTL is how long a room stays in the shared cache without being written.
const sharedTTL = 5 * time.Minute

// cacheKey names a room in caches and in the hot-key detector.
func cacheKey(id int64) string { return "room:" + strconv.FormatInt(id, 10) }

func keyID(key string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(key, "room:"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("room: bad cache key %q", key)
	}
	return id, nil
}

// initReads builds the read path. Without a shared cache, hot rooms are served from process
// memory for at most HotCacheTTL and cold rooms read through to the store. With one, every read
// goes to it (hot keys from its client-side cache, invalidated by writes) and falls back to the
// store when it is down.
func (s *Service) initReads() error {
	cfg := s.cfg.HotKeys
	cfg.Name, cfg.Registerer = "room", s.deps.Registry
	cfg.Namespace = "zhibo"
	det, err := hotkey.New(cfg)
	if err != nil {
		return fmt.Errorf("room: hot keys: %w", err)
	}
	s.det = det
	if s.deps.Shared != nil {
		return nil
	}
	s.hotCache, err = hotkey.NewCache(det, hotkey.CacheConfig{TTL: s.cfg.HotCacheTTL, Name: "room"},
		func(ctx context.Context, key string) (Room, error) {
			id, err := keyID(key)
			if err != nil {
				return Room{}, err
			}
			return s.store.Get(ctx, id)
		})
	return err
}

// HotKeys is the detector of hot room reads (the shared cache asks it which keys to keep local).
func (s *Service) HotKeys() *hotkey.Detector { return s.det }

// read returns a room through the caches.
func (s *Service) read(ctx context.Context, id int64) (Room, error) {
	key := cacheKey(id)
	if !s.det.IsHot(key) && s.hot.IsHot(id, s.hotThreshold.Load()) {
		// A room hot by its audience or a pin is kept in memory whatever its reads; the pin
		// is renewed by a read after it ends while the room stays hot.
		s.det.Pin(key, time.Now().Add(hotPinFor))
	}
	if s.deps.Shared == nil {
		return s.hotCache.Get(ctx, key)
	}
	s.det.Add(key, 1)
	if b, ok, err := s.deps.Shared.Get(ctx, key); err != nil {
		s.m.cacheErrors.Inc()
		s.log.WarnContext(ctx, "shared cache unavailable, reading the store", "err", err)
	} else if ok {
		var c cachedRoom
		if err := json.Unmarshal(b, &c); err == nil {
			c.Room().StreamKey = c.StreamKey
			return *c.Room(), nil
		}
	}
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return Room{}, err
	}
	if b, err := json.Marshal(cachedRoom{plain: plain(r), StreamKey: r.StreamKey}); err == nil {
		if err := s.deps.Shared.Set(ctx, key, b, sharedTTL); err != nil {
			s.m.cacheErrors.Inc()
		}
	}
	return r, nil
}

// plain is Room without its methods, so cachedRoom can embed it.
type plain Room

// cachedRoom is the room as kept in the shared cache: Room hides the stream key from JSON, but a
// read must return it (the owner's live module shows it).
type cachedRoom struct {
	plain
	StreamKey string `json:"stream_key"`
}

// Room is the room the entry holds.
func (c *cachedRoom) Room() *Room { return (*Room)(&c.plain) }

// invalidate drops a written room from the caches: from the shared cache, and Redis then
// invalidates every process's local copy; without one, from this process's hot cache.
func (s *Service) invalidate(ctx context.Context, id int64) {
	if s.deps.OnWrite != nil {
		defer s.deps.OnWrite(id)
	}
	if s.deps.Shared == nil {
		s.hotCache.Invalidate(cacheKey(id)) // this process's copy; other processes' expire within HotCacheTTL
		return
	}
	if err := s.deps.Shared.Del(ctx, cacheKey(id)); err != nil {
		s.m.cacheErrors.Inc()
		s.log.WarnContext(ctx, "shared cache invalidation failed", "room", id, "err", err)
	}
}
