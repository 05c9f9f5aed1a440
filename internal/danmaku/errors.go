package danmaku

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of the danmaku component (codes -20xxx). Messages given with Withf say exactly
// what was wrong; the banned-word message never repeats the word.
var (
	ErrBadInput     = apierr.New(http.StatusBadRequest, -20001, "invalid comment")
	ErrBanned       = apierr.New(http.StatusBadRequest, -20002, "contains a banned word")
	ErrMuted        = apierr.New(http.StatusForbidden, -20003, "you are muted in this room")
	ErrRateLimited  = apierr.New(http.StatusTooManyRequests, -20004, "sending comments too fast")
	ErrNotOwner     = apierr.New(http.StatusForbidden, -20005, "only the room owner may manage mutes")
	ErrMuteSelf     = apierr.New(http.StatusBadRequest, -20006, "you cannot mute yourself")
	ErrUserNotFound = apierr.New(http.StatusNotFound, -20007, "user not found")
	ErrCommentsOff  = apierr.New(http.StatusForbidden, -20008, "comments are switched off in this room")
	// A reply (reply_to) must answer a stored comment of the same room, sent within
	// danmaku.reply_window. Answering one's own comment is allowed: it notifies nobody.
	ErrReplyNotFound  = apierr.New(http.StatusNotFound, -20009, "the comment replied to does not exist")
	ErrReplyOtherRoom = apierr.New(http.StatusBadRequest, -20010, "the comment replied to is in another room")
	ErrReplyTooOld    = apierr.New(http.StatusBadRequest, -20011, "the comment replied to is too old to reply to")
)

// limitedError is ErrRateLimited carrying when the sender may try again, so the HTTP handler
// can set Retry-After. apierr.From still finds the kind through Unwrap.
type limitedError struct {
	kind       *apierr.Error
	retryAfter float64 // seconds
}

func (e *limitedError) Error() string { return e.kind.Error() }
func (e *limitedError) Unwrap() error { return e.kind }
