package logic

import "context"

// Client is what business components use of logic: pushes into the long-connection tier.
// Each msg is one op-5 JSON body ({"cmd":...}); a call's msgs are delivered in order. Pushes go
// through the durable queue, so a nil error means the push is stored and will be delivered.
type Client interface {
	PushRoom(ctx context.Context, roomID int64, msgs ...[]byte) error
	PushUsers(ctx context.Context, uids []int64, msgs ...[]byte) error
	Broadcast(ctx context.Context, msgs ...[]byte) error
}

// Count is a room's audience as logic aggregates it across comets.
type Count struct {
	Online int64 `json:"online"` // distinct viewers now (a user by uid, a guest by token)
	// Watched is the distinct viewers who entered since logic started, or since the room was
	// last empty for a day (a HyperLogLog estimate, exact for small rooms).
	Watched int64 `json:"watched"`
}

// Counter is what business components read of the audience.
type Counter interface {
	Counts(ctx context.Context, roomIDs []int64) (map[int64]Count, error)
}
