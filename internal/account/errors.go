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
)
