package obs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is OpenTelemetry: every HTTP request, gRPC call, queue message and comet push is a
// span, and the W3C trace context crosses processes in HTTP headers, gRPC metadata and queue
// message headers. Spans are exported over OTLP when trace.otlp_endpoint is set; without it
// ids are still made (log lines carry trace_id) and nothing is recorded.

// TraceConfig selects where spans go.
type TraceConfig struct {
	// OTLPEndpoint is the collector (host:port) spans are exported to; empty = no export.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// OTLPProtocol is grpc (port 4317 by convention) or http (4318).
	OTLPProtocol string `yaml:"otlp_protocol"`
	// OTLPInsecure sends to the collector without TLS.
	OTLPInsecure bool `yaml:"otlp_insecure"`
	// SampleRatio is the share of new traces recorded (0..1); a request that arrives with a
	// sampled parent is recorded whatever it is, so one trace is whole or absent.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *TraceConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.OTLPEndpoint, prefix+"otlp_endpoint", "", "OpenTelemetry collector host:port that spans are exported to (empty = no export; trace ids still reach the logs).")
	fs.StringVar(&c.OTLPProtocol, prefix+"otlp_protocol", "grpc", "OTLP transport: grpc or http.")
	fs.BoolVar(&c.OTLPInsecure, prefix+"otlp_insecure", false, "export to the collector without TLS.")
	fs.Float64Var(&c.SampleRatio, prefix+"sample_ratio", 0.01, "share of new traces recorded, 0..1 (a sampled parent's children always are).")
}

// Validate checks the protocol and the ratio.
func (c *TraceConfig) Validate() error {
	if c.OTLPProtocol != "grpc" && c.OTLPProtocol != "http" {
		return fmt.Errorf("trace.otlp_protocol %q: want grpc or http", c.OTLPProtocol)
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return errors.New("trace.sample_ratio must be in [0, 1]")
	}
	return nil
}

// Propagator carries the W3C trace context between processes.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// provider is the process's tracer provider: by default one that makes ids and records
// nothing; SetupTracing or UseTracerProvider replace it.
var (
	provider atomic.Pointer[sdktrace.TracerProvider]
	tracer   atomic.Pointer[trace.Tracer]
)

func init() {
	UseTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))
}

// UseTracerProvider makes tp the process's tracer provider (tests give one with an in-memory
// exporter). Components built afterwards use it.
func UseTracerProvider(tp *sdktrace.TracerProvider) {
	provider.Store(tp)
	t := tp.Tracer("github.com/zhibo-live/zhibo")
	tracer.Store(&t)
}

// TracerProvider is the process's tracer provider (for instrumentation libraries).
func TracerProvider() *sdktrace.TracerProvider { return provider.Load() }

// Tracer is zhibo's tracer.
func Tracer() trace.Tracer { return *tracer.Load() }

// SetupTracing installs the exporting tracer provider cfg describes, for the process's
// lifetime; service names the process in the traces (e.g. "zhibo room,gift"). The returned
// shutdown flushes what is buffered. With no endpoint it changes nothing.
func SetupTracing(ctx context.Context, cfg TraceConfig, service string, attrs ...attribute.KeyValue) (shutdown func(context.Context) error, err error) {
	if cfg.OTLPEndpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	var exp *otlptrace.Exporter
	if cfg.OTLPProtocol == "http" {
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(cfg.OTLPEndpoint)}
		if cfg.OTLPInsecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	} else {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint)}
		if cfg.OTLPInsecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("trace exporter: %w", err)
	}
	res := resource.NewSchemaless(append(attrs, attribute.String("service.name", service))...)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	UseTracerProvider(tp)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
	return tp.Shutdown, nil
}

// TraceID is the trace id of the span in ctx ("" without one), for log lines and answers.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// Inject writes ctx's trace context into carrier (HTTP headers, queue message headers).
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	Propagator.Inject(ctx, carrier)
}

// InjectHeader writes ctx's trace context into h, an HTTP header (the answer's): what Inject
// writes, with the traceparent line formatted straight into the header when it is all there
// is to write, which costs two allocations where the propagator's Set costs five.
func InjectHeader(ctx context.Context, h http.Header) {
	sc, only := TraceparentOnly(ctx)
	if !only {
		Propagator.Inject(ctx, propagation.HeaderCarrier(h))
		return
	}
	if !sc.IsValid() {
		return // as the propagator: nothing for an invalid context
	}
	var b [55]byte
	h["Traceparent"] = []string{string(AppendTraceparent(b[:0], sc))}
}

// TraceparentOnly reports whether all Inject writes for ctx is a traceparent (the W3C
// propagator, no trace state), which AppendTraceparent formats from the span context it
// returns; for an invalid one, Inject writes nothing.
func TraceparentOnly(ctx context.Context) (trace.SpanContext, bool) {
	sc := trace.SpanContextFromContext(ctx)
	_, w3c := Propagator.(propagation.TraceContext)
	return sc, w3c && sc.TraceState().Len() == 0
}

// AppendTraceparent appends the traceparent value of sc, a valid span context, to b: "00-",
// the trace id, "-", the span id, "-", the sampled flag, as the W3C propagator writes it.
func AppendTraceparent(b []byte, sc trace.SpanContext) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, "00-"...)
	tid, sid := sc.TraceID(), sc.SpanID()
	for _, x := range tid {
		b = append(b, hexd[x>>4], hexd[x&15])
	}
	b = append(b, '-')
	for _, x := range sid {
		b = append(b, hexd[x>>4], hexd[x&15])
	}
	f := sc.TraceFlags() & trace.FlagsSampled
	return append(b, '-', hexd[f>>4], hexd[f&15])
}

// Extract returns ctx with the remote trace context carrier holds, if any.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return Propagator.Extract(ctx, carrier)
}

// ParseTraceparent reads a W3C traceparent header value; ok is false when it is malformed.
func ParseTraceparent(v string) (trace.SpanContext, bool) {
	ctx := Extract(context.Background(), propagation.MapCarrier{"traceparent": v})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}
