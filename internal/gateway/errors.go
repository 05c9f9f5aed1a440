package gateway

import (
	"errors"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

var (
	errNoRoute = apierr.New(http.StatusNotFound, -404, "no such route")
	// errLimited answers a request over a rate limit; the envelope's data names the reason.
	errLimited = apierr.TooMany.Withf("too many requests, slow down")
	// errDenied answers a request a deny list refuses.
	errDenied = apierr.Forbidden.Withf("request refused")
	// errOverloaded answers a request shed by an overloaded gateway.
	errOverloaded = apierr.Unavailable.Withf("server overloaded, try again shortly")
)

// errBadScriptReply is a shared-limit script answer of the wrong shape.
var errBadScriptReply = errors.New("shared limit: unexpected reply from Redis")

// writeEnvelope writes env with the headers every API answer has.
func writeEnvelope(w http.ResponseWriter, status int, env httpx.Envelope) {
	_ = httpx.WriteEnvelope(w, status, env)
}
