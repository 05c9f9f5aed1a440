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

	// Follow adds the edge follower → followee at now (unix ms) and counts it on both users,
	// in one transaction; false (and nothing changed) when it exists.
	Follow(ctx context.Context, follower, followee, now int64) (bool, error)
	// Unfollow removes the edge and uncounts it; false (and nothing changed) when there was none.
	Unfollow(ctx context.Context, follower, followee int64) (bool, error)
	// FollowCounts returns uid's counts (zero when never followed nor following).
	FollowCounts(ctx context.Context, uid int64) (FollowCounts, error)
	// Follows answers, for each pair in order, whether the edge exists.
	Follows(ctx context.Context, pairs []FollowPair) ([]bool, error)
	// FollowPage returns up to limit of uid's followers (followersSide) or followees
	// (followingSide) after the cursor, most recent first.
	FollowPage(ctx context.Context, uid int64, side int, after FollowCursor, limit int) ([]Followed, error)
}

// Credentials are what a password check needs of a user.
type Credentials struct {
	User
	Hash    string
	Version int64 // token version: sessions issued at a lower one are revoked
}
