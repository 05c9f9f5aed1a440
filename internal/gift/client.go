package gift

import "context"

// Client is what other components use of gifts. *Service implements it in-process.
type Client interface {
	// Balance returns a user's wallet balance in coins; a wallet never used holds the
	// configured initial balance.
	Balance(ctx context.Context, uid int64) (int64, error)
}

var _ Client = (*Service)(nil)
