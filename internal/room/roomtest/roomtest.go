// Package roomtest has test helpers for consumers of the room component.
package roomtest

import (
	"context"
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
