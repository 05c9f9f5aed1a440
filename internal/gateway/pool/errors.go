package pool

import "errors"

// ErrNoUpstream is wrapped by the error RoundTrip returns when every address of the group is
// down by health checks, so there is nowhere to send the request.
var ErrNoUpstream = errors.New("no upstream address is up")
