// Package pool sends the gateway's requests to a group of upstream addresses instead of one.
//
// A Group is an http.RoundTripper: the route table wraps it in an httputil.ReverseProxy, whose
// Rewrite sets headers and a placeholder URL, and the Group picks the address. It exists so that
// one slow, dead or failing instance of a component costs the clients nothing, or little:
//
//   - balancing: least_request (power of two choices on requests in flight) or round_robin;
//   - active health checks: a GET on each address every interval takes it out after
//     health.fails failed probes and brings it back after health.passes good ones;
//   - passive outlier ejection: eject.failures consecutive failures of live traffic (a
//     transport error or a status >= 500) take an address out for a time that doubles with
//     each consecutive ejection, never more than eject.max_percent of the group at once;
//   - retries of idempotent requests on another address, bounded by a retry budget so that
//     retries cannot multiply the load on a group that is already failing;
//   - h2c addresses, HTTP/2 without TLS, so gRPC upstreams get their trailers.
//
// Which addresses a request may go to (the "panic" rule, after Envoy's panic threshold): those
// that are up by health checks and not ejected, as long as they are at least half of the
// group. When fewer are, ejection is ignored and every address that is up by health checks is
// used, because concentrating all the traffic on the few left would only overload them. When no
// address is up by health checks, RoundTrip fails with an error wrapping ErrNoUpstream.
package pool
