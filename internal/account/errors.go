package account

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of the account component.
var (
	ErrNameTaken      = apierr.New(http.StatusConflict, -40001, "name already taken")
	ErrBadCredentials = apierr.New(http.StatusUnauthorized, -40002, "wrong name or password")
	ErrTokenExpired   = apierr.New(http.StatusUnauthorized, -40003, "token expired, log in again")
	ErrTokenInvalid   = apierr.New(http.StatusUnauthorized, -40004, "token invalid")
	ErrUserNotFound   = apierr.New(http.StatusNotFound, -40005, "user not found")
	ErrBadName        = apierr.New(http.StatusBadRequest, -40006, "bad name")
	ErrBadPassword    = apierr.New(http.StatusBadRequest, -40007, "bad password")
	// ErrTooManyAttempts is a login refused before any password work: too fast, or waiting
	// after failures, or locked (Retry-After says when to try again).
	ErrTooManyAttempts = apierr.New(http.StatusTooManyRequests, -40008, "too many attempts, try again later")
	// ErrBusy means every password-work slot stayed busy for bcrypt_wait (Retry-After: 1).
	ErrBusy = apierr.New(http.StatusServiceUnavailable, -40009, "too many password checks at once, try again")
	// ErrTokenRevoked is a session token logged out, or older than a logout everywhere or a
	// password change.
	ErrTokenRevoked = apierr.New(http.StatusUnauthorized, -40010, "session ended, log in again")
	// ErrWrongPassword is a wrong current password on a password change (403, not 401: the
	// session itself is fine).
	ErrWrongPassword = apierr.New(http.StatusForbidden, -40011, "wrong password")
	// ErrTooManyAccounts is registration_per_ip_hour spent.
	ErrTooManyAccounts = apierr.New(http.StatusTooManyRequests, -40012, "too many accounts created from this address, try again later")
	// ErrFollowSelf is a follow of oneself.
	ErrFollowSelf = apierr.New(http.StatusBadRequest, -40013, "you cannot follow yourself")
)
