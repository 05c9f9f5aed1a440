// Package danmakutest has test helpers for consumers of the danmaku component.
package danmakutest

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/calltest"
)

// Client is a danmaku.Client that passes every call to another one, counts the calls by method
// and can make a method ("Send", "History" or "IsMuted") hang like an upstream that stopped answering
// (Hang, Release, Calls: calltest.Recorder).
type Client struct {
	next danmaku.Client
	*calltest.Recorder
}

var _ danmaku.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c danmaku.Client) *Client { return &Client{next: c, Recorder: calltest.New()} }

// Send implements danmaku.Client.
func (c *Client) Send(ctx context.Context, roomID, uid int64, text string, color, mode int, replyTo int64) (int64, error) {
	c.Enter("Send")
	return c.next.Send(ctx, roomID, uid, text, color, mode, replyTo)
}

// History implements danmaku.Client.
func (c *Client) History(ctx context.Context, roomID int64, limit int) ([]danmaku.Comment, error) {
	c.Enter("History")
	return c.next.History(ctx, roomID, limit)
}

// IsMuted implements danmaku.Client.
func (c *Client) IsMuted(ctx context.Context, roomID, uid int64) (bool, error) {
	c.Enter("IsMuted")
	return c.next.IsMuted(ctx, roomID, uid)
}
