package account

import "context"

// Store keeps users.
type Store interface {
	// Create inserts a user and returns its id; ErrNameTaken if the name exists (any case).
	Create(ctx context.Context, name, hash string, now int64) (int64, error)
	// ByName returns a user and its password hash; ErrUserNotFound when absent.
	ByName(ctx context.Context, name string) (User, string, error)
	// ByIDs returns the users that exist among ids.
	ByIDs(ctx context.Context, ids []int64) ([]User, error)
	// Exp returns a user's experience points; ErrUserNotFound when absent.
	Exp(ctx context.Context, uid int64) (int64, error)
}
