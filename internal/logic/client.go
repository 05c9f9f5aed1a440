package logic

import "context"

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
