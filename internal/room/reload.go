package room

import (
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// Pins from room.hot_rooms carry this reason and last as long as the setting names the room;
// a pin made through /api/admin/hot is left alone by a reload.
const (
	configPinReason    = "config: room.hot_rooms"
	configPinUntilUnix = 253402300799 // 9999-12-31T23:59:59Z: never expires, and still encodes as JSON
)

// ConfigPins pins rooms (room.hot_rooms) in t as the room component does, so a process
// without it treats them as hot too.
func ConfigPins(t *hotroom.Tracker, rooms []int64) {
	t.SetPins(rooms, time.Unix(configPinUntilUnix, 0), configPinReason)
}

// Reload applies the settings of cfg that LiveKeys names to the running service: the rooms
// pinned hot by config (added ones pinned, removed ones unpinned), the threshold of
// /api/admin/hot and the per-user rate and burst of likes. The other settings stay those it
// was built with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.hot.SetPins(cfg.HotRooms, time.Unix(configPinUntilUnix, 0), configPinReason)
	s.hotThreshold.Store(cfg.HotThreshold)
	s.likeLimiter.SetLimit(cfg.Likes.Rate, cfg.Likes.Burst, s.now())
	return nil
}

// SetWords replaces the banned words refused in new titles and areas.
func (s *Service) SetWords(w textnorm.Words) { s.words.Store(&w) }
