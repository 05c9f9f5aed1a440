package danmaku

import (
	"context"

	"google.golang.org/grpc"

	danmakuv1 "github.com/zhibo-live/zhibo/api/proto/danmaku/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	danmakuv1.UnimplementedDanmakuServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	danmakuv1.RegisterDanmakuServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) Send(ctx context.Context, r *danmakuv1.SendRequest) (*danmakuv1.SendResponse, error) {
	id, err := g.c.Send(ctx, r.GetRoomId(), r.GetUid(), r.GetText(), int(r.GetColor()), int(r.GetMode()), r.GetReplyTo())
	if err != nil {
		return nil, err
	}
	return &danmakuv1.SendResponse{Id: id}, nil
}

func (g *grpcServer) History(ctx context.Context, r *danmakuv1.HistoryRequest) (*danmakuv1.HistoryResponse, error) {
	items, err := g.c.History(ctx, r.GetRoomId(), int(r.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &danmakuv1.HistoryResponse{Items: make([]*danmakuv1.Danmaku, len(items))}
	for i, c := range items {
		out.Items[i] = &danmakuv1.Danmaku{Id: c.ID, RoomId: c.RoomID, Uid: c.UID, Uname: c.Uname, Text: c.Text,
			Color: uint32(c.Color), Mode: danmakuv1.Mode(c.Mode), SentAt: c.Ts,
			ReplyTo: c.ReplyTo, ReplyUid: c.ReplyUID, ReplyUname: c.ReplyUname}
	}
	return out, nil
}

func (g *grpcServer) IsMuted(ctx context.Context, r *danmakuv1.IsMutedRequest) (*danmakuv1.IsMutedResponse, error) {
	muted, err := g.c.IsMuted(ctx, r.GetRoomId(), r.GetUid())
	if err != nil {
		return nil, err
	}
	return &danmakuv1.IsMutedResponse{Muted: muted}, nil
}

// Remote is the danmaku component in another process, reached over gRPC; it implements Client.
type Remote struct {
	c danmakuv1.DanmakuServiceClient
}

var _ Client = (*Remote)(nil)

// NewRemote talks to danmaku over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: danmakuv1.NewDanmakuServiceClient(cc)}
}

// Send implements Client.
func (r *Remote) Send(ctx context.Context, roomID, uid int64, text string, color, mode int, replyTo int64) (int64, error) {
	if color < 0 || mode < 0 {
		return 0, ErrBadInput.Withf("color and mode must not be negative")
	}
	resp, err := r.c.Send(ctx, &danmakuv1.SendRequest{RoomId: roomID, Uid: uid, Text: text,
		Color: uint32(color), Mode: danmakuv1.Mode(mode), ReplyTo: replyTo})
	if err != nil {
		return 0, grpcx.FromStatus(err)
	}
	return resp.GetId(), nil
}

// History implements Client.
func (r *Remote) History(ctx context.Context, roomID int64, limit int) ([]Comment, error) {
	resp, err := r.c.History(ctx, &danmakuv1.HistoryRequest{RoomId: roomID, Limit: int32(min(max(limit, 0), 1<<20))})
	if err != nil {
		return nil, grpcx.FromStatus(err)
	}
	out := make([]Comment, len(resp.GetItems()))
	for i, c := range resp.GetItems() {
		out[i] = Comment{ID: c.GetId(), RoomID: c.GetRoomId(), UID: c.GetUid(), Uname: c.GetUname(), Text: c.GetText(),
			Color: int(c.GetColor()), Mode: int(c.GetMode()), Ts: c.GetSentAt(),
			ReplyTo: c.GetReplyTo(), ReplyUID: c.GetReplyUid(), ReplyUname: c.GetReplyUname()}
	}
	return out, nil
}

// IsMuted implements Client.
func (r *Remote) IsMuted(ctx context.Context, roomID, uid int64) (bool, error) {
	resp, err := r.c.IsMuted(ctx, &danmakuv1.IsMutedRequest{RoomId: roomID, Uid: uid})
	if err != nil {
		return false, grpcx.FromStatus(err)
	}
	return resp.GetMuted(), nil
}
