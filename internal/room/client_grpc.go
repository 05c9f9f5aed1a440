package room

import (
	"context"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"google.golang.org/grpc"

	roomv1 "github.com/zhibo-live/zhibo/api/proto/room/v1"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	roomv1.UnimplementedRoomServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	roomv1.RegisterRoomServiceServer(s, &grpcServer{c: c})
}

func (g *grpcServer) GetRoom(ctx context.Context, r *roomv1.GetRoomRequest) (*roomv1.Room, error) {
	rm, err := g.c.Get(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	live := roomv1.LiveStatus_LIVE_STATUS_PREPARING
	if rm.Live {
		live = roomv1.LiveStatus_LIVE_STATUS_LIVE
	}
	return &roomv1.Room{Id: rm.ID, OwnerUid: rm.OwnerUID, Title: rm.Title, Area: rm.Area, Cover: rm.Cover,
		LiveStatus: live, LiveStartedAt: rm.LiveStartedAt, StreamKey: rm.StreamKey, Tags: rm.Tags,
		CreatedAt: rm.CreatedAt, UpdatedAt: rm.UpdatedAt}, nil
}

func (g *grpcServer) SetTag(ctx context.Context, r *roomv1.SetTagRequest) (*roomv1.SetTagResponse, error) {
	if err := g.c.SetTag(ctx, r.GetRoomId(), r.GetTag(), r.GetOn()); err != nil {
		return nil, err
	}
	return &roomv1.SetTagResponse{}, nil
}

func (g *grpcServer) StreamRoom(ctx context.Context, r *roomv1.StreamRoomRequest) (*roomv1.StreamRoomResponse, error) {
	id, err := g.c.StreamRoom(ctx, r.GetKey())
	if err != nil {
		return nil, err
	}
	return &roomv1.StreamRoomResponse{RoomId: id}, nil
}

func (g *grpcServer) SetStreamLive(ctx context.Context, r *roomv1.SetStreamLiveRequest) (*roomv1.SetStreamLiveResponse, error) {
	if err := g.c.SetStreamLive(ctx, r.GetRoomId(), r.GetLive()); err != nil {
		return nil, err
	}
	return &roomv1.SetStreamLiveResponse{}, nil
}

// Remote is the room component in another process, reached over gRPC; it implements Client.
// With a cache TTL it keeps the rooms it was told about for that long: a change to a room (its
// owner, live state, tags) reaches this process at most the TTL late. SetTag drops the room.
type Remote struct {
	c     roomv1.RoomServiceClient
	rooms *expirable.LRU[int64, Room]
}

var _ Client = (*Remote)(nil)

// remoteCacheSize bounds the rooms a Remote keeps.
const remoteCacheSize = 65536

// NewRemote talks to room over cc, caching rooms for ttl (0 = no cache).
func NewRemote(cc grpc.ClientConnInterface, ttl time.Duration) *Remote {
	r := &Remote{c: roomv1.NewRoomServiceClient(cc)}
	if ttl > 0 {
		r.rooms = expirable.NewLRU[int64, Room](remoteCacheSize, nil, ttl)
	}
	return r
}

// Get implements Client.
func (r *Remote) Get(ctx context.Context, id int64) (Room, error) {
	if r.rooms != nil {
		if rm, ok := r.rooms.Get(id); ok {
			return rm, nil
		}
	}
	rm, err := r.get(ctx, id)
	if err == nil && r.rooms != nil {
		r.rooms.Add(id, rm)
	}
	return rm, err
}

func (r *Remote) get(ctx context.Context, id int64) (Room, error) {
	rm, err := r.c.GetRoom(ctx, &roomv1.GetRoomRequest{Id: id})
	if err != nil {
		return Room{}, grpcx.FromStatus(err)
	}
	tags := rm.GetTags()
	if tags == nil {
		tags = []string{} // as the local room has it: JSON [] rather than null
	}
	return Room{ID: rm.GetId(), OwnerUID: rm.GetOwnerUid(), Title: rm.GetTitle(), Area: rm.GetArea(),
		Cover: rm.GetCover(), Live: rm.GetLiveStatus() == roomv1.LiveStatus_LIVE_STATUS_LIVE,
		LiveStartedAt: rm.GetLiveStartedAt(), StreamKey: rm.GetStreamKey(), Tags: tags,
		CreatedAt: rm.GetCreatedAt(), UpdatedAt: rm.GetUpdatedAt()}, nil
}

// SetTag implements Client.
func (r *Remote) SetTag(ctx context.Context, id int64, tag string, on bool) error {
	if r.rooms != nil {
		r.rooms.Remove(id)
	}
	_, err := r.c.SetTag(ctx, &roomv1.SetTagRequest{RoomId: id, Tag: tag, On: on})
	return grpcx.FromStatus(err)
}

// StreamRoom implements Client; never cached, so a rotated key is refused at once.
func (r *Remote) StreamRoom(ctx context.Context, key string) (int64, error) {
	resp, err := r.c.StreamRoom(ctx, &roomv1.StreamRoomRequest{Key: key})
	if err != nil {
		return 0, grpcx.FromStatus(err)
	}
	return resp.GetRoomId(), nil
}

// SetStreamLive implements Client; it drops the room from the cache.
func (r *Remote) SetStreamLive(ctx context.Context, id int64, on bool) error {
	if r.rooms != nil {
		r.rooms.Remove(id)
	}
	_, err := r.c.SetStreamLive(ctx, &roomv1.SetStreamLiveRequest{RoomId: id, Live: on})
	return grpcx.FromStatus(err)
}
