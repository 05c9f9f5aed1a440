package account

import (
	"context"

	"google.golang.org/grpc"

	accountv1 "github.com/zhibo-live/zhibo/api/proto/account/v1"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// maxNames bounds one Names call over the wire.
const maxNames = 1000

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	accountv1.UnimplementedAccountServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	accountv1.RegisterAccountServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) Verify(ctx context.Context, r *accountv1.VerifyRequest) (*accountv1.VerifyResponse, error) {
	uid, err := g.c.Verify(ctx, r.GetToken())
	if err != nil {
		return nil, err
	}
	return &accountv1.VerifyResponse{Uid: uid}, nil
}

func (g *grpcServer) GetUser(ctx context.Context, r *accountv1.GetUserRequest) (*accountv1.User, error) {
	u, err := g.c.User(ctx, r.GetUid())
	if err != nil {
		return nil, err
	}
	return &accountv1.User{Uid: u.UID, Name: u.Name, CreatedAt: u.CreatedAt}, nil
}

func (g *grpcServer) Names(ctx context.Context, r *accountv1.NamesRequest) (*accountv1.NamesResponse, error) {
	if len(r.GetUids()) > maxNames {
		return nil, apierr.BadRequest.Withf("at most %d uids per call", maxNames)
	}
	names, err := g.c.Names(ctx, r.GetUids())
	if err != nil {
		return nil, err
	}
	return &accountv1.NamesResponse{Names: names}, nil
}

// Remote is the account component in another process, reached over gRPC; it implements Client.
type Remote struct {
	c accountv1.AccountServiceClient
}

var _ Client = (*Remote)(nil)

// NewRemote talks to account over cc.
func NewRemote(cc grpc.ClientConnInterface) *Remote {
	return &Remote{c: accountv1.NewAccountServiceClient(cc)}
}

// Verify implements Client.
func (r *Remote) Verify(ctx context.Context, tok string) (int64, error) {
	resp, err := r.c.Verify(ctx, &accountv1.VerifyRequest{Token: tok})
	if err != nil {
		return 0, grpcx.FromStatus(err)
	}
	return resp.GetUid(), nil
}

// User implements Client.
func (r *Remote) User(ctx context.Context, uid int64) (User, error) {
	u, err := r.c.GetUser(ctx, &accountv1.GetUserRequest{Uid: uid})
	if err != nil {
		return User{}, grpcx.FromStatus(err)
	}
	return User{UID: u.GetUid(), Name: u.GetName(), CreatedAt: u.GetCreatedAt()}, nil
}

// Names implements Client, in calls of at most maxNames uids.
func (r *Remote) Names(ctx context.Context, uids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(uids))
	for len(uids) > 0 {
		n := min(len(uids), maxNames)
		resp, err := r.c.Names(ctx, &accountv1.NamesRequest{Uids: uids[:n]})
		if err != nil {
			return nil, grpcx.FromStatus(err)
		}
		for id, name := range resp.GetNames() {
			out[id] = name
		}
		uids = uids[n:]
	}
	return out, nil
}
