// Package roomtest has test helpers for consumers of the room component: an in-memory
// room.Client (Rooms) and a wrapper that counts a client's calls (Counting).
package roomtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/zhibo-live/zhibo/internal/room"
)

// Counting is a room.Client that passes every call to another one and counts them, so a test
// can assert how many times a consumer read the room.
type Counting struct {
	room.Client
	gets, views, lists, setTags atomic.Int64
}

var _ room.Client = (*Counting)(nil)

// Count wraps c.
func Count(c room.Client) *Counting { return &Counting{Client: c} }

// Confirms are the ConfirmStreams calls made so far, in order.
func (r *Rooms) Confirms() []Confirm {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.confirms)
}

// ConfirmStreams implements room.Client: it records the call.
func (r *Rooms) ConfirmStreams(_ context.Context, node string, ids []int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.confirms = append(r.confirms, Confirm{Node: node, Rooms: slices.Sorted(slices.Values(ids))})
	return nil
}

// Get implements room.Client.
func (c *Counting) Get(ctx context.Context, id int64) (room.Room, error) {
	c.gets.Add(1)
	return c.Client.Get(ctx, id)
}

// View implements room.Client.
func (c *Counting) View(ctx context.Context, id, viewer int64) (room.Room, room.View, error) {
	c.views.Add(1)
	return c.Client.View(ctx, id, viewer)
}

// List implements room.Client.
func (c *Counting) List(ctx context.Context, cursor string, limit int, viewer int64) (room.Page, error) {
	c.lists.Add(1)
	return c.Client.List(ctx, cursor, limit, viewer)
}

// SetTag implements room.Client.
func (c *Counting) SetTag(ctx context.Context, id int64, tag string, on bool) error {
	c.setTags.Add(1)
	return c.Client.SetTag(ctx, id, tag, on)
}

// Reads is the number of calls that read rooms (Get, View and List).
func (c *Counting) Reads() int64 { return c.gets.Load() + c.views.Load() + c.lists.Load() }

// Calls returns the calls so far by method name.
func (c *Counting) Calls() map[string]int64 {
	return map[string]int64{"Get": c.gets.Load(), "View": c.views.Load(), "List": c.lists.Load(), "SetTag": c.setTags.Load()}
}

// Rooms keeps rooms in memory and records the live status changes it is asked for.
type Rooms struct {
	mu       sync.Mutex
	rooms    map[int64]*room.Room
	changes  []Change
	confirms []Confirm
}

// Confirm is one ConfirmStreams call.
type Confirm struct {
	Node  string
	Rooms []int64 // sorted
}

// Change is one SetStreamLive call that changed a room.
type Change struct {
	Room int64
	Live bool
}

var _ room.Client = (*Rooms)(nil)

// New returns an empty set of rooms.
func New() *Rooms { return &Rooms{rooms: map[int64]*room.Room{}} }

// Add creates room id with a fresh stream key and returns the key.
func (r *Rooms) Add(id int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := newKey()
	r.rooms[id] = &room.Room{ID: id, StreamKey: key, Tags: []string{}}
	return key
}

// SetOwner makes uid the owner of room id.
func (r *Rooms) SetOwner(id, uid int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rooms[id].OwnerUID = uid
}

// Rotate gives room id a new stream key and returns it.
func (r *Rooms) Rotate(id int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := newKey()
	r.rooms[id].StreamKey = key
	return key
}

// Live reports the room's live status.
func (r *Rooms) Live(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[id]
	return ok && rm.Live
}

// Changes are the live status changes made so far, in order.
func (r *Rooms) Changes() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// Get implements room.Client.
func (r *Rooms) Get(_ context.Context, id int64) (room.Room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[id]
	if !ok {
		return room.Room{}, room.ErrRoomNotFound
	}
	return *rm, nil
}

// View implements room.Client: the base and live modules of the room as stored.
func (r *Rooms) View(ctx context.Context, id, _ int64) (room.Room, room.View, error) {
	rm, err := r.Get(ctx, id)
	if err != nil {
		return room.Room{}, room.View{}, err
	}
	return rm, viewOf(rm), nil
}

// List implements room.Client: every room in id order, on one page.
func (r *Rooms) List(_ context.Context, _ string, limit int, _ int64) (room.Page, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.rooms))
	for id := range r.rooms {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	page := room.Page{Rooms: []room.View{}}
	for _, id := range ids {
		if limit > 0 && len(page.Rooms) == limit {
			break
		}
		page.Rooms = append(page.Rooms, viewOf(*r.rooms[id]))
	}
	return page, nil
}

func viewOf(rm room.Room) room.View {
	status := "preparing"
	if rm.Live {
		status = "live"
	}
	return room.View{ID: rm.ID,
		Base: &room.BaseView{Title: rm.Title, Area: rm.Area, Cover: rm.Cover, OwnerUID: rm.OwnerUID, CreatedAt: rm.CreatedAt},
		Live: &room.LiveView{Status: status, StartedAt: rm.LiveStartedAt}}
}

// SetTag implements room.Client.
func (r *Rooms) SetTag(_ context.Context, id int64, tag string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[id]
	if !ok {
		return room.ErrRoomNotFound
	}
	rm.Tags = slices.DeleteFunc(rm.Tags, func(t string) bool { return t == tag })
	if on {
		rm.Tags = append(rm.Tags, tag)
		slices.Sort(rm.Tags)
	}
	return nil
}

// StreamRoom implements room.Client.
func (r *Rooms) StreamRoom(_ context.Context, key string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, rm := range r.rooms {
		if key != "" && rm.StreamKey == key {
			return id, nil
		}
	}
	return 0, room.ErrBadStreamKey
}

// SetStreamLive implements room.Client.
func (r *Rooms) SetStreamLive(_ context.Context, id int64, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.rooms[id]
	if !ok {
		return room.ErrRoomNotFound
	}
	if rm.Live != on {
		rm.Live = on
		r.changes = append(r.changes, Change{id, on})
	}
	return nil
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "live_" + hex.EncodeToString(b)
}
