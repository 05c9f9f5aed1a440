package logic

import (
	"context"

	"google.golang.org/grpc"

	logicv1 "github.com/zhibo-live/zhibo/api/proto/logic/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves logic to comets and business processes of a cluster.
type grpcServer struct {
	logicv1.UnimplementedLogicServiceServer
	svc *Service
}

// RegisterGRPC serves svc on s.
func RegisterGRPC(s grpc.ServiceRegistrar, svc *Service) {
	logicv1.RegisterLogicServiceServer(s, &grpcServer{svc: svc})
}

func (g *grpcServer) Connect(ctx context.Context, r *logicv1.ConnectRequest) (*logicv1.ConnectResponse, error) {
	uid, session, pop, err := g.svc.Connect(ctx, r.GetServer(), r.GetToken(), r.GetUid(), r.GetRoomId())
	if err != nil {
		return nil, err
	}
	return &logicv1.ConnectResponse{Uid: uid, Popularity: pop, Session: session}, nil
}

func (g *grpcServer) Disconnect(ctx context.Context, r *logicv1.DisconnectRequest) (*logicv1.DisconnectResponse, error) {
	return &logicv1.DisconnectResponse{}, g.svc.Disconnect(ctx, r.GetServer(), r.GetUid(), r.GetRoomId(), r.GetSession())
}

func (g *grpcServer) ReportOnline(ctx context.Context, r *logicv1.ReportOnlineRequest) (*logicv1.ReportOnlineResponse, error) {
	rooms, watched, err := g.svc.ReportOnline(ctx, r.GetServer(), r.GetAddr(), r.GetRooms(), r.GetUsers())
	if err != nil {
		return nil, err
	}
	return &logicv1.ReportOnlineResponse{Rooms: rooms, Watched: watched}, nil
}

func (g *grpcServer) Online(ctx context.Context, r *logicv1.OnlineRequest) (*logicv1.OnlineResponse, error) {
	counts, err := g.svc.Counts(ctx, r.GetRoomIds())
	if err != nil {
		return nil, err
	}
	out := &logicv1.OnlineResponse{Rooms: make(map[int64]int64, len(counts)), Watched: make(map[int64]int64, len(counts))}
	for id, c := range counts {
		out.Rooms[id], out.Watched[id] = c.Online, c.Watched
	}
	return out, nil
}

// Remote is logic in another process: it implements the comet's Logic interface and Counter.
type Remote struct{ c logicv1.LogicServiceClient }

// NewRemote talks to logic over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: logicv1.NewLogicServiceClient(cc)}
}

// Connect implements the comet's Logic.
func (r *Remote) Connect(ctx context.Context, server, tok string, uid, roomID int64) (int64, int64, int64, error) {
	resp, err := r.c.Connect(ctx, &logicv1.ConnectRequest{Server: server, Token: tok, Uid: uid, RoomId: roomID})
	if err != nil {
		return 0, 0, 0, grpcx.FromStatus(err)
	}
	return resp.GetUid(), resp.GetSession(), resp.GetPopularity(), nil
}

// Disconnect implements the comet's Logic.
func (r *Remote) Disconnect(ctx context.Context, server string, uid, roomID, session int64) error {
	_, err := r.c.Disconnect(ctx, &logicv1.DisconnectRequest{Server: server, Uid: uid, RoomId: roomID, Session: session})
	return grpcx.FromStatus(err)
}

// ReportOnline implements the comet's Logic.
func (r *Remote) ReportOnline(ctx context.Context, server, addr string, rooms map[int64]int64, users []int64) (map[int64]int64, []int64, error) {
	resp, err := r.c.ReportOnline(ctx, &logicv1.ReportOnlineRequest{Server: server, Addr: addr, Rooms: rooms, Users: users})
	if err != nil {
		return nil, nil, grpcx.FromStatus(err)
	}
	return resp.GetRooms(), resp.GetWatched(), nil
}

// Counts implements Counter.
func (r *Remote) Counts(ctx context.Context, ids []int64) (map[int64]Count, error) {
	resp, err := r.c.Online(ctx, &logicv1.OnlineRequest{RoomIds: ids})
	if err != nil {
		return nil, grpcx.FromStatus(err)
	}
	out := make(map[int64]Count, len(ids))
	for _, id := range ids {
		out[id] = Count{Online: resp.GetRooms()[id], Watched: resp.GetWatched()[id]}
	}
	return out, nil
}
