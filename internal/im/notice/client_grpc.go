package notice

import (
	"context"

	"google.golang.org/grpc"

	imnoticev1 "github.com/zhibo-live/zhibo/api/proto/im/notice/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	imnoticev1.UnimplementedNoticeServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	imnoticev1.RegisterNoticeServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) Unread(ctx context.Context, r *imnoticev1.UnreadRequest) (*imnoticev1.UnreadResponse, error) {
	n, err := g.c.UnreadByKind(ctx, r.GetUid())
	if err != nil {
		return nil, err
	}
	return &imnoticev1.UnreadResponse{Unread: n}, nil
}

// Remote is the im-notice component in another process, reached over gRPC; it implements
// Client.
type Remote struct {
	c imnoticev1.NoticeServiceClient
}

var _ Client = (*Remote)(nil)

// NewRemote talks to im-notice over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: imnoticev1.NewNoticeServiceClient(cc)}
}

// UnreadByKind implements Client.
func (r *Remote) UnreadByKind(ctx context.Context, uid int64) (map[string]int64, error) {
	resp, err := r.c.Unread(ctx, &imnoticev1.UnreadRequest{Uid: uid})
	if err != nil {
		return nil, grpcx.FromStatus(err)
	}
	out := make(map[string]int64, len(resp.GetUnread()))
	for k, v := range resp.GetUnread() {
		out[k] = v
	}
	return out, nil
}
