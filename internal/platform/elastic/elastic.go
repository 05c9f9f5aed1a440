// Package elastic carries the elastic-pool mark of a request across every hop. The gateway
// marks a request it sends to a route's elastic upstream group (over the route's overflow
// threshold); every zhibo process keeps the mark on the calls that request causes — HTTP
// header between gateways and components, gRPC metadata between components, a header on the
// queue messages it publishes — and sends a marked call to the elastic peer set of the
// component it calls when peers.elastic names one (Conn), so a burst stays in the elastic pool
// all the way down instead of spilling into the fixed one.
//
// The mark is only believed from a trusted proxy (gateway.trusted_proxies) on HTTP; a client
// cannot pick its pool. gRPC metadata and queue headers come from zhibo processes only.
package elastic

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// The mark on the wire: the HTTP (and queue message) header, its gRPC metadata key (lower
// case, as gRPC requires) and the one value that marks.
const (
	Header      = "X-Zhibo-Pool"
	MetadataKey = "zhibo-pool"
	Value       = "elastic"
)

type markKey struct{}

// With returns ctx marked for the elastic pool.
func With(ctx context.Context) context.Context {
	if Marked(ctx) {
		return ctx
	}
	return context.WithValue(ctx, markKey{}, true)
}

// Marked reports whether ctx belongs to a request marked for the elastic pool.
func Marked(ctx context.Context) bool {
	v, _ := ctx.Value(markKey{}).(bool)
	return v
}

// Inject writes the mark of ctx into carrier (queue message headers, outgoing HTTP headers),
// beside the trace context obs.Inject writes there; an unmarked ctx writes nothing.
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if Marked(ctx) {
		carrier.Set(Header, Value)
	}
}

// Extract returns ctx marked when carrier holds the mark. Use it only on carriers a zhibo
// process wrote (queue messages); an HTTP request goes through Middleware, which checks who
// sent it.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if carrier.Get(Header) == Value {
		return With(ctx)
	}
	return ctx
}
