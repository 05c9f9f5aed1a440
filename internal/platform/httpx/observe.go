package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// Metrics are the per-route HTTP metrics, built from an injected registry.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
	// series holds the children of requests and latency by their labels, so a request finds
	// its two series with one lookup instead of hashing its labels twice.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	route, method string
	status        int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// seriesOf returns the request and latency series of the labels.
func (m *Metrics) seriesOf(route, method string, status int) *series {
	k := seriesKey{route, method, status}
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	code := strconv.Itoa(status)
	s, _ := m.series.LoadOrStore(k, &series{m.requests.WithLabelValues(route, method, code),
		m.latency.WithLabelValues(route, method, code)})
	return s.(*series)
}

// NewMetrics registers the HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zhibo_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_http_inflight_requests", Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight)
	return m
}

// MethodLabel is the metric label of an HTTP method: the standard method names as they are,
// every other name "other". A method is raw client input (any token, up to the header size
// limit); it must never become a label value of its own.
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}

// serverSpan is the option every request's span starts with.
var serverSpan = trace.WithSpanKind(trace.SpanKindServer)

// spanNames are the names a request's span starts with, by MethodLabel.
var spanNames = func() map[string]string {
	m := map[string]string{}
	for _, x := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace, "other"} {
		m[x] = "HTTP " + x
	}
	return m
}()

// Observe wraps a ServeMux: it continues or starts the W3C trace (echoed in the response's
// traceparent), recovers panics as 500, logs one line per request and records route metrics.
// It must wrap the mux directly so that the matched pattern is known after serving. Every label
// comes from a fixed set: route is the matched pattern or "unmatched", method is MethodLabel's,
// status is the code the server wrote.
func Observe(log *slog.Logger, m *Metrics, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		if len(r.Header["Traceparent"]) > 0 { // the only header the W3C propagator starts from
			ctx = obs.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		ctx, span := obs.Tracer().Start(ctx, spanNames[MethodLabel(r.Method)], serverSpan, trace.WithTimestamp(start))
		obs.InjectHeader(ctx, w.Header()) // the answer names its trace
		var rec *recorder
		if st, ok := ctx.Value(stateKey{}).(*reqState); ok && !st.observed {
			st.observed = true // TrustProxies' state, filled in place from here on
			r = r.WithContext(ctx)
			rec = &st.rec
		} else { // a state of its own, as a request observed again had (uid unset)
			fresh := &reqState{observed: true}
			if ok {
				fresh.client = st.client
			}
			r = r.WithContext(context.WithValue(ctx, stateKey{}, fresh))
			rec = &fresh.rec
		}
		*rec = recorder{ResponseWriter: w, status: http.StatusOK}
		m.inflight.Inc()
		finish := func() {
			m.inflight.Dec()
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			method := MethodLabel(r.Method)
			d := time.Since(start)
			ser := m.seriesOf(route, method, rec.status)
			ser.requests.Inc()
			ser.latency.Observe(d.Seconds())
			if span.IsRecording() {
				name := route // patterns name their method ("POST /api/rooms"), or not ("/")
				if !strings.HasPrefix(route, method+" ") {
					name = method + " " + route
				}
				span.SetName(name)
				span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.status))
				if rec.status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(rec.status))
				}
			}
			span.End()
			if !rec.hijacked && log.Enabled(r.Context(), slog.LevelDebug) { // the arguments cost
				log.DebugContext(r.Context(), "http request", "method", method, "route", route,
					"path", r.URL.Path, "ip", ClientIP(r), "status", rec.status, "bytes", rec.bytes, "duration", d)
			}
		}
		defer func() {
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler {
					log.ErrorContext(r.Context(), "handler panicked", "path", r.URL.Path, "panic", p)
					if !rec.wrote {
						writePlainError(rec, r, apierr.Internal)
					}
				}
				finish()
				if p == http.ErrAbortHandler {
					panic(p)
				}
				return
			}
			After(rec, finish) // a request the event loop answers later is counted when it ends
		}()
		mux.ServeHTTP(rec, r)
	})
}

// recorder remembers the status for logs and metrics while staying hijackable (WebSocket).
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int
	wrote    bool
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach Hijack and Flush of the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ReadsNoHeaders: the recorder keeps the status and the size, never an answer header, so the
// gateway's proxy may hand an upstream's headers to the writer under it as they came.
func (r *recorder) ReadsNoHeaders() {}
