package room

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of the room component.
var (
	ErrRoomNotFound = apierr.New(http.StatusNotFound, -10001, "room not found")
	ErrNotOwner     = apierr.New(http.StatusForbidden, -10002, "only the room owner may do this")
	ErrRoomLimit    = apierr.New(http.StatusConflict, -10003, "room limit reached")
	ErrBadRoom      = apierr.New(http.StatusBadRequest, -10004, "bad room fields")
	ErrBadMask      = apierr.New(http.StatusBadRequest, -10005, "unknown module")
	ErrBadCursor    = apierr.New(http.StatusBadRequest, -10006, "bad cursor")
	ErrBadLike      = apierr.New(http.StatusBadRequest, -10007, "bad like request")
	ErrLikeLimited  = apierr.New(http.StatusTooManyRequests, -10008, "liking too fast")
	ErrLikesOff     = apierr.New(http.StatusServiceUnavailable, -10009, "likes are unavailable")
	// ErrBanned refuses a title or area with a banned word; the message never repeats it.
	ErrBanned = apierr.New(http.StatusBadRequest, -10010, "contains a banned word")
	// ErrBadCover refuses a cover upload that is not an acceptable image, or a cover URL off
	// the allowed hosts.
	ErrBadCover = apierr.New(http.StatusBadRequest, -10011, "bad cover")
	ErrNoCover  = apierr.New(http.StatusNotFound, -10012, "room has no uploaded cover")
	// ErrBadStreamKey refuses a publish whose key is no room's current stream key.
	ErrBadStreamKey = apierr.New(http.StatusForbidden, -10013, "stream key not valid")
)
