package group

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of group chat (codes -71xxx).
var (
	ErrBadInput     = apierr.New(http.StatusBadRequest, -71001, "invalid group request")
	ErrBanned       = apierr.New(http.StatusBadRequest, -71002, "contains a banned word")
	ErrNoGroup      = apierr.New(http.StatusNotFound, -71003, "group not found")
	ErrNotMember    = apierr.New(http.StatusForbidden, -71004, "you are not a member of this group")
	ErrNotOwner     = apierr.New(http.StatusForbidden, -71005, "only the group's owner may do this")
	ErrGroupFull    = apierr.New(http.StatusConflict, -71006, "the group is full")
	ErrUserNotFound = apierr.New(http.StatusNotFound, -71007, "user not found")
	ErrRateLimited  = apierr.New(http.StatusTooManyRequests, -71008, "sending messages too fast")
	ErrNoMessage    = apierr.New(http.StatusNotFound, -71009, "message not found")
	ErrRecallLate   = apierr.New(http.StatusForbidden, -71010, "too late to recall this message")
	ErrQueue        = apierr.New(http.StatusServiceUnavailable, -71011, "message queue unavailable, try again")
	ErrOwnerLeaves  = apierr.New(http.StatusConflict, -71012, "the owner cannot leave the group")
)
