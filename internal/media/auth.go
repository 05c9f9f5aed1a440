package media

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/room"
)

// Bounds of what an encoder may send as the stream name.
const (
	maxStreamName  = 128
	maxStreamQuery = 512
)

// authorize is Hooks.Authorize: the stream name is the room's stream key ("KEY", what OBS
// sends with server rtmp://HOST/live), or the room id with the key in the query
// ("ROOMID?key=KEY"). room names the room by key; in the second form the id must match.
func (s *Service) authorize(ctx context.Context, name, query string) (int64, string, error) {
	if name == "" {
		return 0, "", errNoKey
	}
	if len(name) > maxStreamName || len(query) > maxStreamQuery {
		return 0, "", fmt.Errorf("stream name too long: %w", room.ErrBadStreamKey)
	}
	key, want := name, int64(0)
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return 0, "", fmt.Errorf("bad query: %w", room.ErrBadStreamKey)
		}
		if k := vals.Get("key"); k != "" {
			id, err := strconv.ParseInt(name, 10, 64)
			if err != nil || id <= 0 {
				return 0, "", fmt.Errorf("with ?key= the stream name must be the room id: %w", room.ErrBadStreamKey)
			}
			key, want = k, id
		}
	}
	id, err := s.deps.Rooms.StreamRoom(ctx, key)
	if err != nil {
		return want, "", err
	}
	if want != 0 && id != want {
		return want, "", fmt.Errorf("the key is not room %d's: %w", want, room.ErrBadStreamKey)
	}
	return id, key, nil
}

// keyRotated cuts the room's publisher at once (room in this process tells it).
func (s *Service) keyRotated(id int64) {
	s.engine.Kick(id, reasonRotated)
}

// checkKeys asks room again, every key_check_interval, whether each publishing stream's key
// is still its room's: a rotated key cuts its publisher within about one interval also when
// room runs in another process. A room that cannot be asked keeps the stream going.
func (s *Service) checkKeys() {
	for id, key := range s.engine.Publishing() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.KeyCheckInterval)
		got, err := s.deps.Rooms.StreamRoom(ctx, key)
		cancel()
		switch {
		case errors.Is(err, room.ErrBadStreamKey) || (err == nil && got != id):
			s.engine.Kick(id, reasonRotated)
		case err != nil:
			s.log.Warn("stream key check failed; the stream goes on", "room", id, "err", err)
		}
	}
}
