package chat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Retries of the consumers: a batch the store refused, or a push the push queue refused, is
// delivered again after retryDelay; a message is acknowledged only once it is stored (by the
// writer) or on its way to both sides (by the deliverer).
const (
	retryDelay   = time.Second
	pushTimeout  = 5 * time.Second
	storeTimeout = 30 * time.Second
)

// writer applies the store consumer's messages in batches of up to batch_size: it takes what
// has arrived, applies it in one transaction and acknowledges each message after the commit.
// A failed batch is handed back to the queue for a later try; nothing is acknowledged before
// it is stored, and Apply skips what a redelivery brings twice.
func (s *Service) writer() {
	defer s.wg.Done()
	batch := make([]queue.Msg, 0, s.cfg.BatchSize)
	for first := range s.batches {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.cfg.BatchSize {
			select {
			case m, ok := <-s.batches:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		s.apply(batch)
	}
}

func (s *Service) apply(batch []queue.Msg) {
	msgs := make([]Message, 0, len(batch))
	keep := batch[:0:0]
	for _, qm := range batch {
		var m Message
		if err := json.Unmarshal(qm.Data(), &m); err != nil || m.ID <= 0 {
			s.log.Error("im-chat: dropping an unreadable queued message", "subject", qm.Subject(), "err", err)
			_ = qm.Term()
			continue
		}
		msgs = append(msgs, m)
		keep = append(keep, qm)
	}
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	applied, err := s.store.Apply(ctx, msgs)
	if err == nil {
		// The change stream carries the states after the batch to the hot tier; until it has
		// them the batch is not acknowledged (a redelivery reads and sends them again).
		err = s.publishChange(ctx, change{Convs: applied.Convs, Totals: applied.Totals})
	}
	if err != nil {
		s.m.failures.WithLabelValues("store").Inc()
		s.log.Warn("im-chat: store write failed, messages queued for another try", "messages", len(msgs), "err", err)
		for _, qm := range keep {
			_ = qm.NakWithDelay(retryDelay)
		}
		return
	}
	now := s.now().UnixMilli()
	for _, m := range msgs {
		s.m.storeLag.Observe(float64(max(0, now-m.Ts)) / 1000)
	}
	s.m.stored.Add(float64(applied.Stored))
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		if err := s.hot.putMessages(hctx, msgs); err != nil {
			s.m.failures.WithLabelValues("hot").Inc() // reads of these fall back to the store
		}
		cancel()
	}
	s.m.batch.Observe(float64(len(msgs)))
	for _, qm := range keep {
		_ = qm.Ack()
	}
}

// deliver pushes a queued message to both sides' connections (the receiver's, and the
// sender's other devices) as IM_MSG. The push is durable once the push stream takes it.
func (s *Service) deliver(qm queue.Msg) {
	var m Message
	if err := json.Unmarshal(qm.Data(), &m); err != nil || m.ID <= 0 {
		_ = qm.Term() // the writer logs it
		return
	}
	ctx, cancel := context.WithTimeout(queue.MsgContext(context.Background(), qm), pushTimeout)
	defer cancel()
	if err := s.pusher.PushUsers(ctx, []int64{m.To, m.From}, event("IM_MSG", m)); err != nil {
		s.m.failures.WithLabelValues("deliver").Inc()
		s.log.Warn("im-chat: delivery failed, queued for another try", "id", m.ID, "err", err)
		_ = qm.NakWithDelay(retryDelay)
		return
	}
	s.m.delivered.Inc()
	_ = qm.Ack()
}

// event is an op-5 body {"cmd": cmd, "data": data}.
func event(cmd string, data any) []byte {
	b, _ := json.Marshal(struct {
		Cmd  string `json:"cmd"`
		Data any    `json:"data"`
	}{cmd, data})
	return b
}

// notify pushes an event to users; a failure is logged, not returned: the change it reports
// is stored, and clients see it on their next read.
func (s *Service) notify(ctx context.Context, uids []int64, cmd string, data any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if err := s.pusher.PushUsers(ctx, uids, event(cmd, data)); err != nil {
		s.m.failures.WithLabelValues("deliver").Inc()
		s.log.WarnContext(ctx, "im-chat: event push failed", "cmd", cmd, "err", err)
	}
}
