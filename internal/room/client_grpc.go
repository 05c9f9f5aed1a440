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
	return toProto(rm), nil
}

func (g *grpcServer) GetRoomView(ctx context.Context, r *roomv1.GetRoomViewRequest) (*roomv1.GetRoomViewResponse, error) {
	rm, v, err := g.c.View(ctx, r.GetId(), r.GetViewer())
	if err != nil {
		return nil, err
	}
	return &roomv1.GetRoomViewResponse{Room: toProto(rm), View: viewToProto(v)}, nil
}

func (g *grpcServer) ListRooms(ctx context.Context, r *roomv1.ListRoomsRequest) (*roomv1.ListRoomsResponse, error) {
	p, err := g.c.List(ctx, r.GetCursor(), int(r.GetLimit()), r.GetViewer())
	if err != nil {
		return nil, err
	}
	out := &roomv1.ListRoomsResponse{NextCursor: p.NextCursor, Rooms: make([]*roomv1.RoomView, len(p.Rooms))}
	for i, v := range p.Rooms {
		out.Rooms[i] = viewToProto(v)
	}
	return out, nil
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

func (g *grpcServer) ConfirmStreams(ctx context.Context, r *roomv1.ConfirmStreamsRequest) (*roomv1.ConfirmStreamsResponse, error) {
	if err := g.c.ConfirmStreams(ctx, r.GetNode(), r.GetRoomIds()); err != nil {
		return nil, err
	}
	return &roomv1.ConfirmStreamsResponse{}, nil
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
	return fromProto(rm), nil
}

// View implements Client; it is never served from the cache (the view has live stats).
func (r *Remote) View(ctx context.Context, id, viewer int64) (Room, View, error) {
	resp, err := r.c.GetRoomView(ctx, &roomv1.GetRoomViewRequest{Id: id, Viewer: viewer})
	if err != nil {
		return Room{}, View{}, grpcx.FromStatus(err)
	}
	rm := fromProto(resp.GetRoom())
	v := viewFromProto(resp.GetView())
	v.Tags = append([]string{}, rm.Tags...)
	return rm, v, nil
}

// List implements Client.
func (r *Remote) List(ctx context.Context, cursor string, limit int, viewer int64) (Page, error) {
	resp, err := r.c.ListRooms(ctx, &roomv1.ListRoomsRequest{Cursor: cursor, Limit: int32(min(max(limit, 0), 1<<20)), Viewer: viewer})
	if err != nil {
		return Page{}, grpcx.FromStatus(err)
	}
	p := Page{NextCursor: resp.GetNextCursor(), Rooms: make([]View, len(resp.GetRooms()))}
	for i, v := range resp.GetRooms() {
		p.Rooms[i] = viewFromProto(v)
	}
	return p, nil
}

// SetTag implements Client.
func (r *Remote) SetTag(ctx context.Context, id int64, tag string, on bool) error {
	if r.rooms != nil {
		r.rooms.Remove(id)
	}
	_, err := r.c.SetTag(ctx, &roomv1.SetTagRequest{RoomId: id, Tag: tag, On: on})
	return grpcx.FromStatus(err)
}

func toProto(rm Room) *roomv1.Room {
	return &roomv1.Room{Id: rm.ID, OwnerUid: rm.OwnerUID, Title: rm.Title, Area: rm.Area, Cover: rm.Cover,
		LiveStatus: liveStatus(rm.Live), LiveStartedAt: rm.LiveStartedAt, StreamKey: rm.StreamKey, Tags: rm.Tags,
		CreatedAt: rm.CreatedAt, UpdatedAt: rm.UpdatedAt, Off: rm.Off}
}

func fromProto(rm *roomv1.Room) Room {
	// Empty lists as the local room has them: JSON [] rather than null.
	tags, off := rm.GetTags(), rm.GetOff()
	if tags == nil {
		tags = []string{}
	}
	if off == nil {
		off = []string{}
	}
	return Room{ID: rm.GetId(), OwnerUID: rm.GetOwnerUid(), Title: rm.GetTitle(), Area: rm.GetArea(),
		Cover: rm.GetCover(), Live: rm.GetLiveStatus() == roomv1.LiveStatus_LIVE_STATUS_LIVE,
		LiveStartedAt: rm.GetLiveStartedAt(), StreamKey: rm.GetStreamKey(), Tags: tags, Off: off,
		CreatedAt: rm.GetCreatedAt(), UpdatedAt: rm.GetUpdatedAt()}
}

func liveStatus(live bool) roomv1.LiveStatus {
	if live {
		return roomv1.LiveStatus_LIVE_STATUS_LIVE
	}
	return roomv1.LiveStatus_LIVE_STATUS_PREPARING
}

// viewToProto carries a view with its base and live modules (always present in View and List)
// and the anchor and stats modules when their sources answered.
func viewToProto(v View) *roomv1.RoomView {
	out := &roomv1.RoomView{Id: v.ID}
	if v.Base != nil {
		out.Title, out.Area, out.Cover, out.OwnerUid, out.CreatedAt = v.Base.Title, v.Base.Area, v.Base.Cover, v.Base.OwnerUID, v.Base.CreatedAt
	}
	if v.Live != nil {
		out.LiveStatus = liveStatus(v.Live.Status == "live")
		out.LiveStartedAt, out.StreamKey = v.Live.StartedAt, v.Live.StreamKey
	}
	if v.Anchor != nil {
		out.HasAnchor, out.AnchorName = true, v.Anchor.Name
	}
	if v.Stats != nil {
		out.HasStats, out.Online, out.Watched, out.Likes = true, v.Stats.Online, v.Stats.Watched, v.Stats.Likes
		out.VideoViewers = v.Stats.VideoViewers
	}
	return out
}

func viewFromProto(p *roomv1.RoomView) View {
	v := View{ID: p.GetId(),
		Base: &BaseView{Title: p.GetTitle(), Area: p.GetArea(), Cover: p.GetCover(), OwnerUID: p.GetOwnerUid(), CreatedAt: p.GetCreatedAt()},
		Live: &LiveView{Status: "preparing", StartedAt: p.GetLiveStartedAt(), StreamKey: p.GetStreamKey()}}
	if p.GetLiveStatus() == roomv1.LiveStatus_LIVE_STATUS_LIVE {
		v.Live.Status = "live"
		play := Playback(p.GetId()) // derived from the id, as the local view does
		v.Live.Play = &play
	}
	if p.GetHasAnchor() {
		v.Anchor = &AnchorView{UID: p.GetOwnerUid(), Name: p.GetAnchorName()}
	}
	if p.GetHasStats() {
		v.Stats = &Stats{Likes: p.GetLikes()}
		v.Stats.Online, v.Stats.Watched = p.GetOnline(), p.GetWatched()
		if p.VideoViewers != nil {
			n := p.GetVideoViewers()
			v.Stats.VideoViewers = &n
		}
	}
	return v
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

// ConfirmStreams implements Client. It leaves the cache alone: a confirmation changes no
// field a Room carries.
func (r *Remote) ConfirmStreams(ctx context.Context, node string, ids []int64) error {
	_, err := r.c.ConfirmStreams(ctx, &roomv1.ConfirmStreamsRequest{Node: node, RoomIds: ids})
	return grpcx.FromStatus(err)
}
