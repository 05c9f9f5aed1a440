package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/push"
)

// sender is one source of comments: a registered user posting through the API, or a
// publisher writing straight into the push stream. Its sequence advances only when a send
// is acknowledged, so acked is exactly what its room's viewers must receive.
type sender struct {
	id    int
	room  int // index into the run's rooms
	token string
	acked atomic.Int64
}

// publishFunc delivers one comment; it returns once the platform has accepted it.
type publishFunc func(ctx context.Context, s *sender, text []byte) error

// apiPublish posts the comment through the public API, as a viewer would.
func (r *run) apiPublish(ctx context.Context, s *sender, text []byte) error {
	return r.api.sendDanmaku(ctx, s.token, r.rooms[s.room].id, text)
}

// queuePublisher publishes DANMU_MSG pushes in the logic push wire format on the room's push
// subject, skipping the API, the danmaku service and its store.
func queuePublisher(q *queue.Queue, r *run) publishFunc {
	return func(ctx context.Context, s *sender, text []byte) error {
		rm := r.rooms[s.room]
		msg := protocol.Danmu{ID: int64(s.id)<<32 | (s.acked.Load() + 1), UID: int64(s.id) + 1,
			Uname: "zbench" + strconv.Itoa(s.id), Text: string(text), SendTime: time.Now(), RoomID: rm.id}.JSON()
		push := push.Marshal(push.Push{Target: push.TargetRoom, RoomID: rm.id, Msgs: [][]byte{msg}})
		return q.Publish(ctx, q.Subject("push.room."+strconv.FormatInt(rm.id, 10)), push, "")
	}
}

// send runs every sender until ctx ends: sender i of n sends every n/rate seconds, the
// senders offset from each other so the total is an even rate. A tick missed because a
// send was slow is skipped, not made up: the report shows the rate actually reached.
func (r *run) send(ctx context.Context, publish publishFunc) {
	n := len(r.sendersList)
	every := time.Duration(float64(n) / r.cfg.Rate * float64(time.Second))
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range r.sendersList {
		wg.Go(func() {
			offset := time.Duration(int64(every) * int64(i) / int64(n))
			t := time.NewTimer(offset)
			defer t.Stop()
			text := make([]byte, 0, r.cfg.MsgSize)
			for tick := int64(1); ; tick++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				seq := s.acked.Load() + 1
				text = appendText(text[:0], stamp{sender: s.id, seq: seq, sentNS: time.Now().UnixNano()}, r.cfg.MsgSize)
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				err := publish(sctx, s, text)
				cancel()
				if err != nil {
					if r.sendErrors.Add(1) == 1 {
						r.firstSendErr.Store(fmt.Sprintf("%s%s", err, hint(err)))
					}
				} else {
					s.acked.Store(seq)
					r.sent.Add(1)
				}
				// Next tick on the fixed grid; skip those already past.
				next := start.Add(offset + time.Duration(tick)*every)
				for d := time.Until(next); d < 0; d = time.Until(next) {
					tick++
					next = start.Add(offset + time.Duration(tick)*every)
				}
				t.Reset(time.Until(next))
			}
		})
	}
	wg.Wait()
}

// publisher picks how comments are sent: through the API, or into the queue when
// cfg.Queue is set. The returned close releases the queue connection.
func (r *run) publisher(ctx context.Context) (publishFunc, func(), error) {
	if r.cfg.Queue == "" {
		return r.apiPublish, func() {}, nil
	}
	q, err := queue.Open(ctx, queue.Config{URL: r.cfg.Queue, Namespace: r.cfg.QueueNamespace}, "", r.log)
	if err != nil {
		return nil, nil, fmt.Errorf("queue mode: %w", err)
	}
	return queuePublisher(q, r), func() { q.Close() }, nil
}
