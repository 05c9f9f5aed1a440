package logic

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of the logic component.
var (
	ErrConnRejected = apierr.New(http.StatusUnauthorized, -50001, "connection token rejected")
)
