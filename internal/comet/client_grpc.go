package comet

import (
	"context"

	"google.golang.org/grpc"

	cometv1 "github.com/zhibo-live/zhibo/api/proto/comet/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer lets job processes push into this comet.
type grpcServer struct {
	cometv1.UnimplementedCometServiceServer
	svc *Service
}

// RegisterGRPC serves svc on s.
func RegisterGRPC(s grpc.ServiceRegistrar, svc *Service) {
	cometv1.RegisterCometServiceServer(s, &grpcServer{svc: svc})
}

func (g *grpcServer) PushRoom(ctx context.Context, r *cometv1.PushRoomRequest) (*cometv1.PushRoomResponse, error) {
	return &cometv1.PushRoomResponse{}, g.svc.PushRoom(ctx, r.GetRoomId(), r.GetMsgs())
}

func (g *grpcServer) PushUsers(ctx context.Context, r *cometv1.PushUsersRequest) (*cometv1.PushUsersResponse, error) {
	return &cometv1.PushUsersResponse{}, g.svc.PushUsers(ctx, r.GetUids(), r.GetMsgs())
}

func (g *grpcServer) Broadcast(ctx context.Context, r *cometv1.BroadcastRequest) (*cometv1.BroadcastResponse, error) {
	return &cometv1.BroadcastResponse{}, g.svc.Broadcast(ctx, r.GetMsgs())
}

func (g *grpcServer) Online(context.Context, *cometv1.OnlineRequest) (*cometv1.OnlineResponse, error) {
	return &cometv1.OnlineResponse{Rooms: g.svc.Online()}, nil
}

func (g *grpcServer) Ping(context.Context, *cometv1.PingRequest) (*cometv1.PingResponse, error) {
	return &cometv1.PingResponse{}, nil
}

// Remote is a comet in another process, as the job component pushes to it.
type Remote struct {
	c      cometv1.CometServiceClient
	target string
}

// NewRemote talks to the comet at target over cc.
func NewRemote(cc grpc.ClientConnInterface, target string) *Remote {
	return &Remote{c: cometv1.NewCometServiceClient(cc), target: target}
}

// String names the comet in logs.
func (r *Remote) String() string { return r.target }

// PushRoom delivers one room batch.
func (r *Remote) PushRoom(ctx context.Context, roomID int64, msgs [][]byte) error {
	_, err := r.c.PushRoom(ctx, &cometv1.PushRoomRequest{RoomId: roomID, Msgs: msgs})
	return grpcx.FromStatus(err)
}

// PushUsers delivers to the given users' connections on this comet.
func (r *Remote) PushUsers(ctx context.Context, uids []int64, msgs [][]byte) error {
	_, err := r.c.PushUsers(ctx, &cometv1.PushUsersRequest{Uids: uids, Msgs: msgs})
	return grpcx.FromStatus(err)
}

// Broadcast delivers to every connection on this comet.
func (r *Remote) Broadcast(ctx context.Context, msgs [][]byte) error {
	_, err := r.c.Broadcast(ctx, &cometv1.BroadcastRequest{Msgs: msgs})
	return grpcx.FromStatus(err)
}
