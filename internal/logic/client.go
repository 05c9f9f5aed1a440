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
