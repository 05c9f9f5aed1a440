package media

import (
	"context"

	"google.golang.org/grpc"

	mediav1 "github.com/zhibo-live/zhibo/api/proto/media/v1"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// maxViewerRooms bounds the rooms of one VideoViewers call (a room list page asks for at most
// 1000).
const maxViewerRooms = 10000

// grpcServer serves media's video viewer counts to a room process elsewhere.
type grpcServer struct {
	mediav1.UnimplementedMediaServiceServer
	svc *Service
}

// RegisterGRPC serves svc on s.
func RegisterGRPC(s grpc.ServiceRegistrar, svc *Service) {
	mediav1.RegisterMediaServiceServer(s, &grpcServer{svc: svc})
}

func (g *grpcServer) VideoViewers(ctx context.Context, r *mediav1.VideoViewersRequest) (*mediav1.VideoViewersResponse, error) {
	if len(r.GetRoomIds()) > maxViewerRooms {
		return nil, apierr.BadRequest.Withf("at most %d rooms", maxViewerRooms)
	}
	counts, err := g.svc.VideoViewers(ctx, r.GetRoomIds())
	if err != nil {
		return nil, err
	}
	return &mediav1.VideoViewersResponse{Viewers: counts}, nil
}

// Remote is media in another process, as room reads it.
type Remote struct{ c mediav1.MediaServiceClient }

// NewRemote talks to media over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: mediav1.NewMediaServiceClient(cc)}
}

// VideoViewers counts the video viewers of each room in ids that has any, as Service does.
func (r *Remote) VideoViewers(ctx context.Context, ids []int64) (map[int64]int64, error) {
	resp, err := r.c.VideoViewers(ctx, &mediav1.VideoViewersRequest{RoomIds: ids})
	if err != nil {
		return nil, grpcx.FromStatus(err)
	}
	out := resp.GetViewers()
	if out == nil {
		out = map[int64]int64{}
	}
	return out, nil
}
