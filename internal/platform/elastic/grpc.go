package elastic

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// fromIncoming marks ctx when the call's metadata carries the mark.
func fromIncoming(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if slices.Contains(md.Get(MetadataKey), Value) {
		return With(ctx)
	}
	return ctx
}

// toOutgoing adds the mark to the call's metadata when ctx is marked.
func toOutgoing(ctx context.Context) context.Context {
	if !Marked(ctx) {
		return ctx
	}
	if md, _ := metadata.FromOutgoingContext(ctx); slices.Contains(md.Get(MetadataKey), Value) {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, MetadataKey, Value)
}

// UnaryServerInterceptor marks the context of a call whose metadata carries the mark.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(fromIncoming(ctx), req)
	}
}

// StreamServerInterceptor marks the context of a stream whose metadata carries the mark.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx := fromIncoming(ss.Context())
		if ctx == ss.Context() {
			return h(srv, ss)
		}
		return h(srv, markedStream{ss, ctx})
	}
}

type markedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s markedStream) Context() context.Context { return s.ctx }

// UnaryClientInterceptor sends the mark of a marked context in the call's metadata.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(toOutgoing(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor sends the mark of a marked context in the stream's metadata.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(toOutgoing(ctx), desc, cc, method, opts...)
	}
}
