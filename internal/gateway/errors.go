package gateway

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

var errNoRoute = apierr.New(http.StatusNotFound, -404, "no such route")
