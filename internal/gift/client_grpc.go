package gift

import (
	"context"

	"google.golang.org/grpc"

	giftv1 "github.com/zhibo-live/zhibo/api/proto/gift/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	giftv1.UnimplementedGiftServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	giftv1.RegisterGiftServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) Balance(ctx context.Context, r *giftv1.BalanceRequest) (*giftv1.BalanceResponse, error) {
	b, err := g.c.Balance(ctx, r.GetUid())
	if err != nil {
		return nil, err
	}
	return &giftv1.BalanceResponse{Balance: b}, nil
}

// Remote is the gift component in another process, reached over gRPC; it implements Client.
type Remote struct{ c giftv1.GiftServiceClient }

var _ Client = (*Remote)(nil)

// NewRemote talks to gift over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: giftv1.NewGiftServiceClient(cc)}
}

// Balance implements Client.
func (r *Remote) Balance(ctx context.Context, uid int64) (int64, error) {
	resp, err := r.c.Balance(ctx, &giftv1.BalanceRequest{Uid: uid})
	if err != nil {
		return 0, grpcx.FromStatus(err)
	}
	return resp.GetBalance(), nil
}
