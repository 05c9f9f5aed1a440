package gift

import (
	"context"

	"github.com/zhibo-live/zhibo/internal/room"
)

// Client is what other components use of gifts. *Service implements it in-process.
type Client interface {
	// Balance returns a user's wallet balance in coins; a wallet never used holds the
	// configured initial balance.
	Balance(ctx context.Context, uid int64) (int64, error)
	// Gifts returns the catalog, in display order.
	Gifts(ctx context.Context) ([]Gift, error)
	// RankOf returns the rank of a room the caller has already read (Rank, without reading
	// the room again): at most limit senders (0 = rank_size).
	RankOf(ctx context.Context, r room.Room, limit int) (Rank, error)
}

var _ Client = (*Service)(nil)
