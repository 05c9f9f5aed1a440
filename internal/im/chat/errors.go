package chat

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of private messages (codes -70xxx). Messages given with Withf say exactly what
// was wrong.
var (
	ErrBadInput       = apierr.New(http.StatusBadRequest, -70001, "invalid message")
	ErrBanned         = apierr.New(http.StatusBadRequest, -70002, "contains a banned word")
	ErrUserNotFound   = apierr.New(http.StatusNotFound, -70003, "user not found")
	ErrBlocked        = apierr.New(http.StatusForbidden, -70004, "this user does not accept your messages")
	ErrNotAccepting   = apierr.New(http.StatusForbidden, -70005, "this user accepts no private messages")
	ErrRateLimited    = apierr.New(http.StatusTooManyRequests, -70006, "sending messages too fast")
	ErrNoMessage      = apierr.New(http.StatusNotFound, -70007, "message not found")
	ErrRecallLate     = apierr.New(http.StatusForbidden, -70008, "too late to recall this message")
	ErrNoConversation = apierr.New(http.StatusNotFound, -70009, "conversation not found")
	ErrSelf           = apierr.New(http.StatusBadRequest, -70010, "you cannot message yourself")
	ErrQueue          = apierr.New(http.StatusServiceUnavailable, -70011, "message queue unavailable, try again")
	ErrSpam           = apierr.New(http.StatusTooManyRequests, -70012, "the same message sent to too many people")
	// ErrFollowersOnly is a send to a user who takes messages from their followers only, from
	// someone who does not follow them (nor is followed by them, nor was written to by them).
	ErrFollowersOnly = apierr.New(http.StatusForbidden, -70013, "this user accepts private messages only from their followers")
	// ErrNotAgent is a call about a service account from someone not in its pool (nor an
	// admin, where admins may act), or about a uid that is no service account.
	ErrNotAgent = apierr.New(http.StatusForbidden, -70014, "you are not an agent of this service account")
	// ErrNotInPool is a reassignment to a user who is not an agent of the account.
	ErrNotInPool = apierr.New(http.StatusBadRequest, -70015, "not an agent of this service account")
	// ErrBadDND is do-not-disturb hours that are no window: a time not HH:MM, from equal to
	// to, or a zone that is no IANA zone (DND.validate says which).
	ErrBadDND = apierr.New(http.StatusBadRequest, -70016, "invalid do-not-disturb hours")
)

// limitedError is ErrRateLimited carrying when the sender may try again (Retry-After).
type limitedError struct {
	retryAfter float64 // seconds
}

func (e *limitedError) Error() string { return ErrRateLimited.Error() }
func (e *limitedError) Unwrap() error { return ErrRateLimited }
