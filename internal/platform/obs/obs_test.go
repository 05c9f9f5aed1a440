package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
)

func TestTraceparentRoundTrip(t *testing.T) {
	ctx, span := Tracer().Start(context.Background(), "parent")
	defer span.End()
	h := propagation.HeaderCarrier{}
	Inject(ctx, h)
	got, ok := ParseTraceparent(h.Get("traceparent"))
	require.True(t, ok)
	require.Equal(t, span.SpanContext().TraceID(), got.TraceID())
	require.Equal(t, span.SpanContext().SpanID(), got.SpanID())
	_, child := Tracer().Start(Extract(context.Background(), h), "child")
	require.Equal(t, got.TraceID(), child.SpanContext().TraceID(), "a child keeps the trace")
	require.NotEqual(t, got.SpanID(), child.SpanContext().SpanID(), "and has a span of its own")
}

func TestTraceparentRejectsMalformed(t *testing.T) {
	for _, v := range []string{
		"", "garbage", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
	} {
		_, ok := ParseTraceparent(v)
		require.False(t, ok, v)
	}
	_, ok := ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	require.True(t, ok)
}

func TestLoggerStampsTraceID(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, LogConfig{Level: "info", Format: "json"})
	require.NoError(t, err)
	ctx, span := Tracer().Start(context.Background(), "request")
	defer span.End()
	log.With("component", "room").InfoContext(ctx, "room created", "room", 7)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, span.SpanContext().TraceID().String(), line["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), line["span_id"])
	require.Equal(t, "room", line["component"])
	require.Equal(t, "room created", line["msg"])
	_, err = NewLogger(&buf, LogConfig{Level: "loud"})
	require.Error(t, err)
}

// SetLevel changes the level of the root and of every logger derived from it, at once.
func TestSetLevel(t *testing.T) {
	var buf bytes.Buffer
	root, err := NewLogger(&buf, LogConfig{Level: "warn", Format: "text"})
	require.NoError(t, err)
	child := root.With("component", "danmaku")
	child.Info("hidden")
	require.Empty(t, buf.String())
	require.NoError(t, SetLevel(child, "debug"))
	root.Debug("shown")
	child.Info("shown too")
	require.Contains(t, buf.String(), "shown")
	require.Contains(t, buf.String(), "shown too")
	require.Error(t, SetLevel(root, "loud"))
	require.Error(t, SetLevel(Discard(), "info"), "a logger not built here has no level to change")

	c := LogConfig{Level: "info", Format: "yaml"}
	require.ErrorContains(t, c.Validate(), "log.format")
}
