// Package push is the contract between the components that push messages to viewers (room,
// gift, danmaku, logic's audience updates, the admin push API) and the job component that
// delivers them: the Client interface, the stream every push goes through, and its wire
// format. It is all a business component needs to reach viewers, in any process that has the
// queue; none of them imports logic for it.
package push

import (
	"context"
	"net/http"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Client puts messages on their way to viewers. Each msg is one op-5 JSON body ({"cmd":...});
// a call's msgs are delivered in order. Pushes go through the durable queue, so a nil error
// means the push is stored and will be delivered.
type Client interface {
	PushRoom(ctx context.Context, roomID int64, msgs ...[]byte) error
	// PushRoomOnce is PushRoom with an id: pushing the same id again within the stream's
	// duplicate window (a minute) stores it once, so a publisher can retry after a failure
	// it cannot tell from a success.
	PushRoomOnce(ctx context.Context, roomID int64, id string, msgs ...[]byte) error
	PushUsers(ctx context.Context, uids []int64, msgs ...[]byte) error
	// PushUsersOnce is PushUsers with an id, stored once within the duplicate window like
	// PushRoomOnce: a deliverer that retries cannot reach a user twice.
	PushUsersOnce(ctx context.Context, uids []int64, id string, msgs ...[]byte) error
	Broadcast(ctx context.Context, msgs ...[]byte) error
}

// Stream is the stream (within the queue namespace) every push goes through.
const Stream = "PUSH"

// ErrQueue is returned when the push stream does not take a push.
var ErrQueue = apierr.New(http.StatusServiceUnavailable, -50002, "push queue unavailable")

// EnsureStream creates the push stream; publishers and the job call it, whichever starts first.
func EnsureStream(ctx context.Context, q *queue.Queue) error {
	return q.EnsureStream(ctx, queue.StreamSpec{
		Name: q.Stream(Stream), Subjects: []string{q.Subject("push.>")},
		MaxAge: time.Hour, MaxBytes: 1 << 30, Duplicates: time.Minute,
	})
}
