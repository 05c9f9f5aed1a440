// Package grouptest has test helpers for consumers of the im-group component.
package grouptest

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/platform/calltest"
)

// Client is a group.Client that passes every call to another one, counts the calls by method
// and can make "Groups" hang like an upstream that stopped answering (Hang, Release, Calls:
// calltest.Recorder).
type Client struct {
	next group.Client
	*calltest.Recorder
}

var _ group.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c group.Client) *Client { return &Client{next: c, Recorder: calltest.New()} }

// Groups implements group.Client.
func (c *Client) Groups(ctx context.Context, uid int64, cursor string, limit int) (group.GroupPage, error) {
	c.Enter("Groups")
	return c.next.Groups(ctx, uid, cursor, limit)
}
