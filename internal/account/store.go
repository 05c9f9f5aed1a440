package account

import "context"

// Store keeps users.
type Store interface {
	// NameTaken reports whether a user holds the name key (case-folded name) or the skeleton.
	NameTaken(ctx context.Context, key, skeleton string) (bool, error)
	// Create inserts a user and returns its id; ErrNameTaken if its key or skeleton exists.
	Create(ctx context.Context, name, key, skeleton, hash string, now int64) (int64, error)
	// ByName returns the credentials of the user with that name key; ErrUserNotFound when absent.
	ByName(ctx context.Context, key string) (Credentials, error)
	// ByID returns a user's credentials; ErrUserNotFound when absent.
	ByID(ctx context.Context, uid int64) (Credentials, error)
	// ByIDs returns the users that exist among ids.
	ByIDs(ctx context.Context, ids []int64) ([]User, error)
	// ByNameKeys returns the users that exist among these name keys (case-folded names).
	ByNameKeys(ctx context.Context, keys []string) ([]User, error)
	// Exp returns a user's experience points; ErrUserNotFound when absent.
	Exp(ctx context.Context, uid int64) (int64, error)

	// SetPassword replaces the hash and bumps the token version, returning the new version.
	SetPassword(ctx context.Context, uid int64, hash string) (int64, error)
	// BumpVersion ends every session issued so far, returning the new version.
	BumpVersion(ctx context.Context, uid int64) (int64, error)
	// Revoke ends one session until its expiry (unix s); now (unix s) prunes expired ones.
	Revoke(ctx context.Context, uid int64, id string, exp, now int64) error
	// Sessions returns the user's token version and the ids of its revoked, unexpired tokens;
	// ErrUserNotFound when absent.
	Sessions(ctx context.Context, uid int64, now int64) (int64, []string, error)
}

// Credentials are what a password check needs of a user.
type Credentials struct {
	User
	Hash    string
	Version int64 // token version: sessions issued at a lower one are revoked
}
