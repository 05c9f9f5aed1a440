package account

import "context"

// User is the public view of an account.
type User struct {
	UID       int64  `json:"uid"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"` // unix ms
}

// Client is what other components use of accounts. *Service implements it in-process.
type Client interface {
	// Verify checks a bearer token and returns its user id (apierr Unauthorized kinds on failure).
	Verify(ctx context.Context, token string) (uid int64, err error)
	// User returns one user (ErrUserNotFound when there is none).
	User(ctx context.Context, uid int64) (User, error)
	// Names returns the names of the given users; unknown ids are absent from the map.
	Names(ctx context.Context, uids []int64) (map[int64]string, error)
	// UIDs returns the users named names, matched without regard to case as at login; the
	// map is keyed by the names as given, and unknown names are absent from it.
	UIDs(ctx context.Context, names []string) (map[string]int64, error)
	// Follows answers, for each pair in order, whether its Follower follows its Followee
	// (unknown users follow nobody). At most 1,000 pairs are asked in one call over the wire.
	Follows(ctx context.Context, pairs []FollowPair) ([]bool, error)
	// Relation returns uid's follow counts and how viewer (0 = anonymous) stands to them
	// (ErrUserNotFound when there is no such user).
	Relation(ctx context.Context, viewer, uid int64) (Relation, error)
}
