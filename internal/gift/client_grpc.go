package gift

import (
	"context"

	"google.golang.org/grpc"

	giftv1 "github.com/zhibo-live/zhibo/api/proto/gift/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/room"
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

func (g *grpcServer) Catalog(ctx context.Context, _ *giftv1.CatalogRequest) (*giftv1.CatalogResponse, error) {
	gs, err := g.c.Gifts(ctx)
	if err != nil {
		return nil, err
	}
	out := &giftv1.CatalogResponse{Gifts: make([]*giftv1.Gift, len(gs))}
	for i, x := range gs {
		out.Gifts[i] = &giftv1.Gift{Id: x.ID, Name: x.Name, Price: x.Price, CoinType: x.CoinType}
	}
	return out, nil
}

func (g *grpcServer) Rank(ctx context.Context, r *giftv1.RankRequest) (*giftv1.RankResponse, error) {
	rk, err := g.c.RankOf(ctx, room.Room{ID: r.GetRoomId(), OwnerUID: r.GetOwnerUid()}, int(r.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &giftv1.RankResponse{AnchorScore: rk.AnchorScore, Items: make([]*giftv1.RankEntry, len(rk.Items))}
	for i, it := range rk.Items {
		out.Items[i] = &giftv1.RankEntry{Uid: it.UID, Uname: it.Uname, Score: it.Score}
	}
	return out, nil
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

// Gifts implements Client.
func (r *Remote) Gifts(ctx context.Context) ([]Gift, error) {
	resp, err := r.c.Catalog(ctx, &giftv1.CatalogRequest{})
	if err != nil {
		return nil, grpcx.FromStatus(err)
	}
	out := make([]Gift, len(resp.GetGifts()))
	for i, g := range resp.GetGifts() {
		out[i] = Gift{ID: g.GetId(), Name: g.GetName(), Price: g.GetPrice(), CoinType: g.GetCoinType()}
	}
	return out, nil
}

// RankOf implements Client: the room's owner travels with the request.
func (r *Remote) RankOf(ctx context.Context, rm room.Room, limit int) (Rank, error) {
	resp, err := r.c.Rank(ctx, &giftv1.RankRequest{RoomId: rm.ID, OwnerUid: rm.OwnerUID, Limit: int32(min(max(limit, 0), 1<<20))})
	if err != nil {
		return Rank{}, grpcx.FromStatus(err)
	}
	out := Rank{AnchorScore: resp.GetAnchorScore(), Items: make([]RankEntry, len(resp.GetItems()))}
	for i, it := range resp.GetItems() {
		out.Items[i] = RankEntry{UID: it.GetUid(), Uname: it.GetUname(), Score: it.GetScore()}
	}
	return out, nil
}
