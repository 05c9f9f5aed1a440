// Package gifttest has test helpers for consumers of the gift component.
package gifttest

import (
	"context"
	"sync"

	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Client is a gift.Client that passes every call to another one, counts the calls by method
// and can make a method hang like an upstream that stopped answering.
type Client struct {
	next gift.Client

	mu      sync.Mutex
	calls   map[string]int
	hang    map[string]bool
	release chan struct{}
}

var _ gift.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c gift.Client) *Client {
	return &Client{next: c, calls: map[string]int{}, hang: map[string]bool{}, release: make(chan struct{})}
}

// Hang makes method ("Balance", "Gifts" or "RankOf") block until Release, whatever its
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

// Balance implements gift.Client.
func (c *Client) Balance(ctx context.Context, uid int64) (int64, error) {
	c.enter("Balance")
	return c.next.Balance(ctx, uid)
}

// Gifts implements gift.Client.
func (c *Client) Gifts(ctx context.Context) ([]gift.Gift, error) {
	c.enter("Gifts")
	return c.next.Gifts(ctx)
}

// RankOf implements gift.Client.
func (c *Client) RankOf(ctx context.Context, r room.Room, limit int) (gift.Rank, error) {
	c.enter("RankOf")
	return c.next.RankOf(ctx, r, limit)
}
