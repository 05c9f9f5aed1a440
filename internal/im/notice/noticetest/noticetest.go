// Package noticetest has test helpers for consumers of the im-notice component.
package noticetest

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/platform/calltest"
)

// Client is a notice.Client that passes every call to another one, counts the calls by
// method and can make "UnreadByKind" hang like an upstream that stopped answering (Hang,
// Release, Calls: calltest.Recorder).
type Client struct {
	next notice.Client
	*calltest.Recorder
}

var _ notice.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c notice.Client) *Client { return &Client{next: c, Recorder: calltest.New()} }

// UnreadByKind implements notice.Client.
func (c *Client) UnreadByKind(ctx context.Context, uid int64) (map[string]int64, error) {
	c.Enter("UnreadByKind")
	return c.next.UnreadByKind(ctx, uid)
}
