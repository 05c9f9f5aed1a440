package room

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Likes: a viewer taps like in a room (POST /api/rooms/{id}/likes); the tap is stored as an
// event on the LIKES stream before the request is answered, and room's durable fold adds the
// events of a window to room_likes in one transaction (likes_fold.go). The answer therefore
// means the likes will count, exactly once: a retry with the same idempotency key carries the
// same event id, stored once by JetStream within its duplicate window and claimed once by the
// fold beyond it.
const (
	// LikesStreamName is the stream of like events; subjects are LikesSubjectPrefix + room id.
	LikesStreamName = "LIKES"
	// LikesSubjectPrefix starts the subject of a room's like events.
	LikesSubjectPrefix = "like.room."
	// LikesConsumer is the durable consumer folding likes into room_likes.
	LikesConsumer = "room-likes"
	// MaxLikeCount is the most likes one request may carry (a client batches fast taps).
	MaxLikeCount = 100

	likesStreamMaxAge     = 7 * 24 * time.Hour
	likesStreamDuplicates = 10 * time.Minute
)

// LikesConfig configures likes.
type LikesConfig struct {
	// Window is how long like events are folded before one write per room (0 = 1s); each
	// window's changed rooms get a LIKE_INFO_V3_UPDATE with their total.
	Window time.Duration `yaml:"window"`
	// Rate is the like requests per second one user may make (0 = unlimited).
	Rate float64 `yaml:"rate"`
	// Burst is how many like requests a user may make at once before Rate applies.
	Burst int `yaml:"burst"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *LikesConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Window, prefix+"window", time.Second, "window over which likes are folded into one write and one LIKE_INFO_V3_UPDATE per room (0 = 1s).")
	fs.Float64Var(&c.Rate, prefix+"rate", 10, "like requests per second per user (0 = unlimited).")
	fs.IntVar(&c.Burst, prefix+"burst", 10, "like requests a user may make at once before the rate applies.")
}

// Validate checks the config.
func (c *LikesConfig) Validate() error {
	switch {
	case c.Window < 0 || c.Window > time.Minute:
		return fmt.Errorf("room.likes.window %s: want 0..1m", c.Window)
	case c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return fmt.Errorf("room.likes.rate %v: want a finite number >= 0", c.Rate)
	case c.Rate > 0 && c.Burst < 1:
		return fmt.Errorf("room.likes.burst %d: want at least 1 when a rate is set", c.Burst)
	}
	return nil
}

// LikeEvent is one like request on the LIKES stream (subject LikesSubjectPrefix + room id):
// room folds it into the room's total, im-notice into its anchor's like notice.
type LikeEvent struct {
	Room  int64 `json:"room_id"`
	UID   int64 `json:"uid"`
	Count int64 `json:"count"`
	// ID is the request's idempotency id: the same for every copy of one request.
	ID int64 `json:"id"`
	// Ts is when the request was accepted, unix ms (0 in events stored before it was added).
	Ts int64 `json:"ts,omitempty"`
}

// Like records count likes of room id by uid. It returns once the likes are stored on the
// LIKES stream. key (optional) makes retries count once; see likeEventID.
func (s *Service) Like(ctx context.Context, uid, id int64, count int, key string) error {
	switch {
	case s.likes == nil:
		return ErrLikesOff
	case uid <= 0:
		return apierr.Unauthorized
	case count < 1 || count > MaxLikeCount:
		return ErrBadLike.Withf("count must be an integer in [1, %d]", MaxLikeCount)
	case key != "" && !httpx.ValidIdempotencyKey(key):
		return ErrBadLike.Withf("idempotency_key must be 1 to %d characters of A-Z a-z 0-9 _ - : .", httpx.MaxIdempotencyKey)
	}
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	if ok, wait := s.likeLimiter.Allow(uid, s.now()); !ok {
		s.likes.rejected.Inc()
		return &likeLimitedError{kind: ErrLikeLimited.Withf("liking too fast: try again in %.1fs", wait.Seconds()), wait: wait}
	}
	ev := LikeEvent{Room: id, UID: uid, Count: int64(count), ID: likeEventID(uid, id, key), Ts: s.now().UnixMilli()}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	q := s.deps.Queue
	sid := strconv.FormatInt(ev.ID, 10)
	if err := q.Publish(ctx, q.Subject(LikesSubjectPrefix+strconv.FormatInt(id, 10)), data, "like:"+sid); err != nil {
		return apierr.Unavailable.Wrap(fmt.Errorf("store likes: %w", err))
	}
	s.likes.accepted.Add(float64(count))
	return nil
}

// readLikes returns rooms' like totals, through the fold's cache when likes are enabled.
func (s *Service) readLikes(ctx context.Context, ids []int64) (map[int64]int64, error) {
	if s.likes == nil {
		return s.store.Likes(ctx, ids)
	}
	return s.likes.cache.get(ctx, ids, s.store.Likes)
}

// likeEventID is the event's idempotency id. With a key it is derived from (uid, room, key),
// so the key is scoped to its user and room and a retry gets the same id; 63 bits of SHA-256
// make two different keys colliding a non-event. Without a key every request is new.
func likeEventID(uid, roomID int64, key string) int64 {
	var b [8]byte
	if key == "" {
		_, _ = rand.Read(b[:])
	} else {
		h := sha256.Sum256([]byte(strconv.FormatInt(uid, 10) + "/" + strconv.FormatInt(roomID, 10) + "/" + key))
		copy(b[:], h[:8])
	}
	id := int64(binary.BigEndian.Uint64(b[:]) >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// likeLimitedError is ErrLikeLimited carrying the wait, for Retry-After.
type likeLimitedError struct {
	kind *apierr.Error
	wait time.Duration
}

func (e *likeLimitedError) Error() string { return e.kind.Error() }
func (e *likeLimitedError) Unwrap() error { return e.kind }

// LikesAccepted is the answer to a like request.
type LikesAccepted struct {
	Accepted int `json:"accepted"`
}

func (s *Service) handleLike(w http.ResponseWriter, r *http.Request) error {
	uid, id, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Count *int   `json:"count"`
		Key   string `json:"idempotency_key"`
	}
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	if body.Count == nil {
		return ErrBadLike.Withf(`"count" (1 to %d) is required`, MaxLikeCount)
	}
	if err := s.Like(r.Context(), uid, id, *body.Count, body.Key); err != nil {
		if le, ok := err.(*likeLimitedError); ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(le.wait.Seconds())))))
		}
		return err
	}
	return httpx.OK(w, LikesAccepted{Accepted: *body.Count})
}
