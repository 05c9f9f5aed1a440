package group

import (
	"context"

	"google.golang.org/grpc"

	imgroupv1 "github.com/zhibo-live/zhibo/api/proto/im/group/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	imgroupv1.UnimplementedGroupServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	imgroupv1.RegisterGroupServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) Groups(ctx context.Context, r *imgroupv1.GroupsRequest) (*imgroupv1.GroupsResponse, error) {
	page, err := g.c.Groups(ctx, r.GetUid(), r.GetCursor(), int(r.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &imgroupv1.GroupsResponse{Next: page.Next, Items: make([]*imgroupv1.Group, len(page.Items))}
	for i, v := range page.Items {
		out.Items[i] = &imgroupv1.Group{Id: v.ID, Owner: v.Owner, Name: v.Name, Members: int32(v.Members),
			CreatedAt: v.CreatedAt, LastId: v.LastID, Mtime: v.Mtime, ReadId: v.ReadID, Unread: int32(v.Unread), Muted: v.Muted}
		if m := v.Last; m != nil {
			out.Items[i].Last = &imgroupv1.Message{Id: m.ID, GroupId: m.GroupID, From: m.From, Text: m.Text,
				ClientId: m.ClientID, Ts: m.Ts, Recalled: m.Recalled}
		}
	}
	return out, nil
}

// Remote is the im-group component in another process, reached over gRPC; it implements
// Client.
type Remote struct{ c imgroupv1.GroupServiceClient }

var _ Client = (*Remote)(nil)

// NewRemote talks to im-group over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: imgroupv1.NewGroupServiceClient(cc)}
}

// Groups implements Client.
func (r *Remote) Groups(ctx context.Context, uid int64, cursor string, limit int) (GroupPage, error) {
	resp, err := r.c.Groups(ctx, &imgroupv1.GroupsRequest{Uid: uid, Cursor: cursor, Limit: int32(min(max(limit, 0), maxPage))})
	if err != nil {
		return GroupPage{}, grpcx.FromStatus(err)
	}
	out := GroupPage{Next: resp.GetNext(), Items: make([]GroupView, len(resp.GetItems()))}
	for i, v := range resp.GetItems() {
		out.Items[i] = GroupView{Group: Group{ID: v.GetId(), Owner: v.GetOwner(), Name: v.GetName(), Members: int(v.GetMembers()),
			CreatedAt: v.GetCreatedAt(), LastID: v.GetLastId(), Mtime: v.GetMtime()},
			ReadID: v.GetReadId(), Unread: int(v.GetUnread()), Muted: v.GetMuted()}
		if m := v.GetLast(); m != nil {
			out.Items[i].Last = &Message{ID: m.GetId(), GroupID: m.GetGroupId(), From: m.GetFrom(), Text: m.GetText(),
				ClientID: m.GetClientId(), Ts: m.GetTs(), Recalled: m.GetRecalled()}
		}
	}
	return out, nil
}
