package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// One comment is one trace: the API call, its publish on the queue, the job's batch and the
// comet's push are spans of the same trace, each the child of the one before.
func TestOneCommentIsOneTrace(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	prev := obs.TracerProvider()
	obs.UseTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithSampler(sdktrace.AlwaysSample())))
	t.Cleanup(func() { obs.UseTracerProvider(prev) })

	n := startAllInOne(t)
	anchor := register(t, n, fmt.Sprintf("tanchor%d", time.Now().UnixNano()%1e6))
	fan := register(t, n, fmt.Sprintf("tfan%d", time.Now().UnixNano()%1e6))
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "traced"}, &room)
	require.Equal(t, 200, code)
	var info struct {
		Token string `json:"token"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", room.ID), fan.Token, nil, &info)
	require.Equal(t, 200, code)
	ws, err := viewer.Dial(context.Background(), viewer.Options{Addr: n.WSURL, WS: true, UID: fan.UID, RoomID: room.ID, Token: info.Token, ProtoVer: 2})
	require.NoError(t, err)
	defer ws.Close()

	code, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), fan.Token, map[string]any{"text": "traced comment"}, nil)
	require.Equal(t, 200, code)
	waitFor(t, ws, "DANMU_MSG", isCmd("DANMU_MSG"))

	byName := func(name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range spans.GetSpans().Snapshots() {
			if s.Name() == name {
				out = append(out, s)
			}
		}
		return out
	}
	var api, publish, batch, push sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		a := byName("POST /api/rooms/{id}/danmaku")
		if len(a) != 1 {
			return false
		}
		api = a[0]
		tid := api.SpanContext().TraceID()
		find := func(name string) sdktrace.ReadOnlySpan {
			for _, s := range byName(name) {
				if s.SpanContext().TraceID() == tid {
					return s
				}
			}
			return nil
		}
		publish = find("queue publish")
		batch, push = find("job batch"), find("comet push")
		return publish != nil && batch != nil && push != nil
	}, 15*time.Second, 20*time.Millisecond, "spans of the comment's trace: %v", names(spans))

	require.Equal(t, trace.SpanKindServer, api.SpanKind())
	require.Equal(t, api.SpanContext().SpanID(), parentOf(t, publish, api), "the publish is a child of the API call")
	require.Equal(t, publish.SpanContext().SpanID(), parentOf(t, batch, publish), "the job's batch continues the message's trace")
	require.Equal(t, batch.SpanContext().SpanID(), parentOf(t, push, batch), "the comet's push is a child of the batch")
	require.Equal(t, trace.SpanKindProducer, publish.SpanKind())
	require.Contains(t, publish.Attributes(), attribute.String("messaging.destination.name", fmt.Sprintf("zhibo.push.room.%d", room.ID)))
	require.Equal(t, trace.SpanKindConsumer, batch.SpanKind())
}

func parentOf(t *testing.T, s, want sdktrace.ReadOnlySpan) trace.SpanID {
	t.Helper()
	require.Equal(t, want.SpanContext().TraceID(), s.Parent().TraceID(), "%s in the trace of %s", s.Name(), want.Name())
	return s.Parent().SpanID()
}

func names(e *tracetest.InMemoryExporter) []string {
	var out []string
	for _, s := range e.GetSpans().Snapshots() {
		out = append(out, s.Name())
	}
	return out
}
