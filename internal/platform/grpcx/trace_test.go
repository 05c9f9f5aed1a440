package grpcx

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// seen is what the handler of the probe service found in its context.
type seen struct {
	sc       trace.SpanContext
	deadline time.Time
}

// startProbe serves /zhibo.test.Probe/Call on a real Server and reports each call's context.
func startProbe(t *testing.T) (string, chan seen) {
	s := NewServer("127.0.0.1:0", obs.Discard())
	got := make(chan seen, 1)
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "zhibo.test.Probe", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			req := new(emptypb.Empty)
			if err := dec(req); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				var v seen
				v.sc = trace.SpanContextFromContext(ctx)
				v.deadline, _ = ctx.Deadline()
				got <- v
				return &emptypb.Empty{}, nil
			}
			return in(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/zhibo.test.Probe/Call"}, h)
		}}}}, struct{}{})
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s.Addr().String(), got
}

// A call continues the caller's trace (same trace id, a new span) and carries its deadline;
// a call without a trace starts one on the server.
func TestTraceAndDeadlineCrossCalls(t *testing.T) {
	addr, got := startProbe(t)
	cc, err := Dial(addr)
	require.NoError(t, err)
	defer cc.Close()

	ctx, span := obs.Tracer().Start(context.Background(), "caller")
	defer span.End()
	parent := span.SpanContext()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	require.NoError(t, cc.Invoke(ctx, "/zhibo.test.Probe/Call", &emptypb.Empty{}, &emptypb.Empty{}))
	v := <-got
	require.True(t, v.sc.IsValid())
	require.Equal(t, parent.TraceID(), v.sc.TraceID(), "same trace")
	require.NotEqual(t, parent.SpanID(), v.sc.SpanID(), "a span of its own")
	require.WithinDuration(t, want, v.deadline, 100*time.Millisecond, "the caller's deadline")

	require.NoError(t, cc.Invoke(context.Background(), "/zhibo.test.Probe/Call", &emptypb.Empty{}, &emptypb.Empty{}))
	v = <-got
	require.True(t, v.sc.IsValid(), "a call without a trace starts one")
	require.NotEqual(t, parent.TraceID(), v.sc.TraceID())
}
