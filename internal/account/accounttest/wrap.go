package accounttest

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/calltest"
)

// Client is an account.Client that passes every call to another one, counts the calls by
// method and can make a method hang like an upstream that stopped answering (Hang, Release,
// Calls: calltest.Recorder).
type Client struct {
	next account.Client
	*calltest.Recorder
}

var _ account.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c account.Client) *Client { return &Client{next: c, Recorder: calltest.New()} }

// Verify implements account.Client.
func (c *Client) Verify(ctx context.Context, token string) (int64, error) {
	c.Enter("Verify")
	return c.next.Verify(ctx, token)
}

// User implements account.Client.
func (c *Client) User(ctx context.Context, uid int64) (account.User, error) {
	c.Enter("User")
	return c.next.User(ctx, uid)
}

// Names implements account.Client.
func (c *Client) Names(ctx context.Context, uids []int64) (map[int64]string, error) {
	c.Enter("Names")
	return c.next.Names(ctx, uids)
}

// UIDs implements account.Client.
func (c *Client) UIDs(ctx context.Context, names []string) (map[string]int64, error) {
	c.Enter("UIDs")
	return c.next.UIDs(ctx, names)
}

// Follows implements account.Client.
func (c *Client) Follows(ctx context.Context, pairs []account.FollowPair) ([]bool, error) {
	c.Enter("Follows")
	return c.next.Follows(ctx, pairs)
}

// Relation implements account.Client.
func (c *Client) Relation(ctx context.Context, viewer, uid int64) (account.Relation, error) {
	c.Enter("Relation")
	return c.next.Relation(ctx, viewer, uid)
}
