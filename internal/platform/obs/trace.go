package obs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// TraceContext is the W3C trace context of one request.
type TraceContext struct {
	TraceID string // 32 lower-hex digits
	SpanID  string // 16 lower-hex digits
	Flags   string // 2 hex digits
}

type traceKey struct{}

// ParseTraceparent reads a W3C `traceparent` header value; ok is false when it is malformed.
func ParseTraceparent(v string) (TraceContext, bool) {
	p := strings.Split(strings.TrimSpace(v), "-")
	if len(p) != 4 || len(p[0]) != 2 || p[0] == "ff" || !isHex(p[0]) ||
		len(p[1]) != 32 || !isHex(p[1]) || allZero(p[1]) ||
		len(p[2]) != 16 || !isHex(p[2]) || allZero(p[2]) ||
		len(p[3]) != 2 || !isHex(p[3]) {
		return TraceContext{}, false
	}
	return TraceContext{TraceID: p[1], SpanID: p[2], Flags: p[3]}, true
}

// NewTrace starts a fresh trace.
func NewTrace() TraceContext {
	return TraceContext{TraceID: randHex(16), SpanID: randHex(8), Flags: "01"}
}

// Child keeps the trace id and opens a new span: what a server does with an incoming parent.
func (t TraceContext) Child() TraceContext {
	return TraceContext{TraceID: t.TraceID, SpanID: randHex(8), Flags: t.Flags}
}

// Header renders the context as a traceparent value.
func (t TraceContext) Header() string {
	return "00-" + t.TraceID + "-" + t.SpanID + "-" + t.Flags
}

// WithTrace returns ctx carrying tc.
func WithTrace(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

// TraceFrom returns the trace context carried by ctx.
func TraceFrom(ctx context.Context) (TraceContext, bool) {
	tc, ok := ctx.Value(traceKey{}).(TraceContext)
	return tc, ok
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }
