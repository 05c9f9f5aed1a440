// Package gifttest has test helpers for consumers of the gift component.
package gifttest

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/platform/calltest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Client is a gift.Client that passes every call to another one, counts the calls by method
// and can make a method ("Balance", "Gifts" or "RankOf") hang like an upstream that stopped answering
// (Hang, Release, Calls: calltest.Recorder).
type Client struct {
	next gift.Client
	*calltest.Recorder
}

var _ gift.Client = (*Client)(nil)

// Wrap wraps c.
func Wrap(c gift.Client) *Client { return &Client{next: c, Recorder: calltest.New()} }

// Balance implements gift.Client.
func (c *Client) Balance(ctx context.Context, uid int64) (int64, error) {
	c.Enter("Balance")
	return c.next.Balance(ctx, uid)
}

// Gifts implements gift.Client.
func (c *Client) Gifts(ctx context.Context) ([]gift.Gift, error) {
	c.Enter("Gifts")
	return c.next.Gifts(ctx)
}

// RankOf implements gift.Client.
func (c *Client) RankOf(ctx context.Context, r room.Room, limit int) (gift.Rank, error) {
	c.Enter("RankOf")
	return c.next.RankOf(ctx, r, limit)
}
