package grpcx

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// Every connection Dial makes and every Server carries the elastic mark: a handler serving a
// marked caller's call finds its context marked.
func TestServerAndDialCarryTheElasticMark(t *testing.T) {
	s := NewServer("127.0.0.1:0", obs.Discard())
	seen := make(chan bool, 1)
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "zhibo.test.Pool", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			return in(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/zhibo.test.Pool/Call"}, func(ctx context.Context, _ any) (any, error) {
				seen <- elastic.Marked(ctx)
				return &emptypb.Empty{}, nil
			})
		}}}}, struct{}{})
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	cc, err := Dial(s.Addr().String())
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cc.Invoke(elastic.With(ctx), "/zhibo.test.Pool/Call", &emptypb.Empty{}, &emptypb.Empty{}))
	require.True(t, <-seen)
	require.NoError(t, cc.Invoke(ctx, "/zhibo.test.Pool/Call", &emptypb.Empty{}, &emptypb.Empty{}))
	require.False(t, <-seen)
}
