// Package roomtest is an in-memory room.Client for the tests of the components that use rooms.
package roomtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"

	"github.com/zhibo-live/zhibo/internal/room"
)

// Rooms keeps rooms in memory and records the live status changes it is asked for.
type Rooms struct {
	mu      sync.Mutex
	rooms   map[int64]*room.Room
	changes []Change
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
