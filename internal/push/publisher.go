package push

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Publisher puts pushes on the durable push stream. It implements Client and is all a
// business component needs to reach viewers, so it works in any process that has the queue.
type Publisher struct {
	q      *queue.Queue
	pushes *prometheus.CounterVec
}

// NewPublisher returns a publisher on q with its metrics registered on reg (one per process).
func NewPublisher(q *queue.Queue, reg prometheus.Registerer) *Publisher {
	p := &Publisher{q: q, pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zhibo_push_published_total", Help: "Pushes published to the queue by result.",
	}, []string{"result"})}
	reg.MustRegister(p.pushes)
	return p
}

// PushRoom implements Client.
func (p *Publisher) PushRoom(ctx context.Context, roomID int64, msgs ...[]byte) error {
	return p.publish(ctx, "push.room."+strconv.FormatInt(roomID, 10), Push{Target: TargetRoom, RoomID: roomID, Msgs: msgs})
}

// PushRoomOnce implements Client.
func (p *Publisher) PushRoomOnce(ctx context.Context, roomID int64, id string, msgs ...[]byte) error {
	return p.publishID(ctx, "push.room."+strconv.FormatInt(roomID, 10), Push{Target: TargetRoom, RoomID: roomID, Msgs: msgs}, id)
}

// PushUsers implements Client.
func (p *Publisher) PushUsers(ctx context.Context, uids []int64, msgs ...[]byte) error {
	return p.publish(ctx, "push.user", Push{Target: TargetUser, UIDs: uids, Msgs: msgs})
}

// PushUsersOnce implements Client.
func (p *Publisher) PushUsersOnce(ctx context.Context, uids []int64, id string, msgs ...[]byte) error {
	return p.publishID(ctx, "push.user", Push{Target: TargetUser, UIDs: uids, Msgs: msgs}, id)
}

// Broadcast implements Client.
func (p *Publisher) Broadcast(ctx context.Context, msgs ...[]byte) error {
	return p.publish(ctx, "push.all", Push{Target: TargetAll, Msgs: msgs})
}

func (p *Publisher) publish(ctx context.Context, subject string, push Push) error {
	return p.publishID(ctx, subject, push, "")
}

func (p *Publisher) publishID(ctx context.Context, subject string, push Push, id string) error {
	if len(push.Msgs) == 0 {
		return nil
	}
	if err := p.q.Publish(ctx, p.q.Subject(subject), Marshal(push), id); err != nil {
		p.pushes.WithLabelValues("failed").Inc()
		return ErrQueue.Wrap(err)
	}
	p.pushes.WithLabelValues("ok").Inc()
	return nil
}
