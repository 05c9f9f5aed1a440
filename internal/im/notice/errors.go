package notice

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of notices (codes -72xxx).
var (
	ErrBadInput = apierr.New(http.StatusBadRequest, -72001, "invalid notice")
	ErrNoNotice = apierr.New(http.StatusNotFound, -72002, "notice not found")
	ErrQueue    = apierr.New(http.StatusServiceUnavailable, -72003, "notice queue unavailable, try again")
)
