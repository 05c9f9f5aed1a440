// Package chattest has test helpers for consumers of the im-chat component.
package chattest

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/calltest"
)

// Client is a chat.Client that passes every call to another one, counts the calls by method
// and can make a method ("Conversations", "Unread" or "Settings") hang like an upstream that stopped
// answering (Hang, Release, Calls: calltest.Recorder).
type Client struct {
	next chat.Client
	*calltest.Recorder
}

var _ chat.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c chat.Client) *Client { return &Client{next: c, Recorder: calltest.New()} }

// Conversations implements chat.Client.
func (c *Client) Conversations(ctx context.Context, uid int64, folder int, cursor string, limit int) (chat.Page, error) {
	c.Enter("Conversations")
	return c.next.Conversations(ctx, uid, folder, cursor, limit)
}

// Unread implements chat.Client.
func (c *Client) Unread(ctx context.Context, uid int64) (int64, error) {
	c.Enter("Unread")
	return c.next.Unread(ctx, uid)
}

// Settings implements chat.Client.
func (c *Client) Settings(ctx context.Context, uid int64) (chat.Settings, error) {
	c.Enter("Settings")
	return c.next.Settings(ctx, uid)
}
