package chat

import (
	"context"

	"google.golang.org/grpc"

	imchatv1 "github.com/zhibo-live/zhibo/api/proto/im/chat/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	imchatv1.UnimplementedChatServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	imchatv1.RegisterChatServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) Conversations(ctx context.Context, r *imchatv1.ConversationsRequest) (*imchatv1.ConversationsResponse, error) {
	folder, err := ParseFolder(r.GetFolder())
	if err != nil {
		return nil, err
	}
	page, err := g.c.Conversations(ctx, r.GetUid(), folder, r.GetCursor(), int(r.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &imchatv1.ConversationsResponse{Next: page.Next, Source: page.Source,
		Items: make([]*imchatv1.Conversation, len(page.Items))}
	for i, c := range page.Items {
		out.Items[i] = &imchatv1.Conversation{Peer: c.Peer, LastId: c.LastID, Mtime: c.Mtime, Unread: c.Unread,
			ReadId: c.ReadID, Muted: c.Muted, Stranger: c.Stranger, PeerName: c.PeerName}
		if m := c.Last; m != nil {
			out.Items[i].Last = &imchatv1.Message{Id: m.ID, From: m.From, To: m.To, Text: m.Text, ClientId: m.ClientID,
				Ts: m.Ts, Recalled: m.Recalled}
		}
	}
	return out, nil
}

func (g *grpcServer) Unread(ctx context.Context, r *imchatv1.UnreadRequest) (*imchatv1.UnreadResponse, error) {
	n, err := g.c.Unread(ctx, r.GetUid())
	if err != nil {
		return nil, err
	}
	return &imchatv1.UnreadResponse{Total: n}, nil
}

func (g *grpcServer) Settings(ctx context.Context, r *imchatv1.SettingsRequest) (*imchatv1.SettingsResponse, error) {
	st, err := g.c.Settings(ctx, r.GetUid())
	if err != nil {
		return nil, err
	}
	d := st.DND
	return &imchatv1.SettingsResponse{Allow: int32(st.Allow), Dnd: &imchatv1.DND{On: d.On, From: d.From, To: d.To, Tz: d.TZ}}, nil
}

// Remote is the im-chat component in another process, reached over gRPC; it implements
// Client.
type Remote struct{ c imchatv1.ChatServiceClient }

var _ Client = (*Remote)(nil)

// NewRemote talks to im-chat over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: imchatv1.NewChatServiceClient(cc)}
}

// Conversations implements Client.
func (r *Remote) Conversations(ctx context.Context, uid int64, folder int, cursor string, limit int) (Page, error) {
	resp, err := r.c.Conversations(ctx, &imchatv1.ConversationsRequest{Uid: uid, Folder: FolderName(folder), Cursor: cursor,
		Limit: int32(min(max(limit, 0), maxPageLimit))})
	if err != nil {
		return Page{}, grpcx.FromStatus(err)
	}
	out := Page{Next: resp.GetNext(), Source: resp.GetSource(), Items: make([]ConversationView, len(resp.GetItems()))}
	for i, c := range resp.GetItems() {
		out.Items[i] = ConversationView{PeerName: c.GetPeerName(), Conversation: Conversation{Peer: c.GetPeer(),
			LastID: c.GetLastId(), Mtime: c.GetMtime(), Unread: c.GetUnread(), ReadID: c.GetReadId(), Muted: c.GetMuted(),
			Stranger: c.GetStranger()}}
		if m := c.GetLast(); m != nil {
			out.Items[i].Last = &Message{ID: m.GetId(), From: m.GetFrom(), To: m.GetTo(), Text: m.GetText(),
				ClientID: m.GetClientId(), Ts: m.GetTs(), Recalled: m.GetRecalled()}
		}
	}
	return out, nil
}

// Unread implements Client.
func (r *Remote) Unread(ctx context.Context, uid int64) (int64, error) {
	resp, err := r.c.Unread(ctx, &imchatv1.UnreadRequest{Uid: uid})
	if err != nil {
		return 0, grpcx.FromStatus(err)
	}
	return resp.GetTotal(), nil
}

// Settings implements Client.
func (r *Remote) Settings(ctx context.Context, uid int64) (Settings, error) {
	resp, err := r.c.Settings(ctx, &imchatv1.SettingsRequest{Uid: uid})
	if err != nil {
		return Settings{}, grpcx.FromStatus(err)
	}
	d := resp.GetDnd() // nil from a server older than the field: off, no hours
	return Settings{Allow: int(resp.GetAllow()), DND: DND{On: d.GetOn(), From: d.GetFrom(), To: d.GetTo(), TZ: d.GetTz()}}, nil
}
