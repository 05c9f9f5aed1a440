// Package danmakutest has test helpers for consumers of the danmaku component.
package danmakutest

import (
	"context"
	"sync"

	"github.com/zhibo-live/zhibo/internal/danmaku"
)

// Client is a danmaku.Client that passes every call to another one, counts the calls by method
// and can make a method hang like an upstream that stopped answering.
type Client struct {
	next danmaku.Client

	mu      sync.Mutex
	calls   map[string]int
	hang    map[string]bool
	release chan struct{}
}

var _ danmaku.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c danmaku.Client) *Client {
	return &Client{next: c, calls: map[string]int{}, hang: map[string]bool{}, release: make(chan struct{})}
}

// Hang makes method ("Send", "History" or "IsMuted") block until Release, whatever its
// context says.
func (c *Client) Hang(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hang[method] = true
}

// Release lets every hanging call return; later calls no longer hang.
func (c *Client) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hang) > 0 {
		close(c.release)
		c.release = make(chan struct{})
		c.hang = map[string]bool{}
	}
}

// Calls returns the calls so far by method name.
func (c *Client) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

func (c *Client) enter(method string) {
	c.mu.Lock()
	c.calls[method]++
	hang, release := c.hang[method], c.release
	c.mu.Unlock()
	if hang {
		<-release
	}
}

// Send implements danmaku.Client.
func (c *Client) Send(ctx context.Context, roomID, uid int64, text string, color, mode int) (int64, error) {
	c.enter("Send")
	return c.next.Send(ctx, roomID, uid, text, color, mode)
}

// History implements danmaku.Client.
func (c *Client) History(ctx context.Context, roomID int64, limit int) ([]danmaku.Comment, error) {
	c.enter("History")
	return c.next.History(ctx, roomID, limit)
}

// IsMuted implements danmaku.Client.
func (c *Client) IsMuted(ctx context.Context, roomID, uid int64) (bool, error) {
	c.enter("IsMuted")
	return c.next.IsMuted(ctx, roomID, uid)
}
