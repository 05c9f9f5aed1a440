package obs

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestInjectHeaderWritesWhatThePropagatorWrites holds InjectHeader's own formatting to the
// W3C propagator's: sampled or not, with a trace state, and nothing for an invalid context.
func TestInjectHeaderWritesWhatThePropagatorWrites(t *testing.T) {
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sid := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	ts, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]trace.SpanContext{
		"sampled":     trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
		"not sampled": trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}),
		"trace state": trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceState: ts}),
		"invalid":     {},
	}
	for name, sc := range cases {
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		got, want := http.Header{}, http.Header{}
		InjectHeader(ctx, got)
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(want))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: InjectHeader wrote %v, the propagator %v", name, got, want)
		}
		if name == "sampled" && got.Get("traceparent") != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
			t.Errorf("sampled: traceparent %q", got.Get("traceparent"))
		}
	}
}
