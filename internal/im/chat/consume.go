package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Time limits of a push and of a store batch. A message is acknowledged only once it is
// stored (by the writer) or on its way to both sides (by the deliverer); what fails is
// delivered again after impath.RetryDelay.
const (
	pushTimeout  = 5 * time.Second
	storeTimeout = 30 * time.Second
)

// decodeMessage reads a queued message.
func decodeMessage(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	if m.ID <= 0 || m.From <= 0 || m.To <= 0 {
		return m, fmt.Errorf("message without ids: %s", b)
	}
	return m, nil
}

// store is the store writer's batch (impath.Writer): write diffusion in one transaction, then
// the states it left on the change stream for the hot tier (until it has them the batch is not
// acknowledged: a redelivery reads and sends them again), then the content in the hot tier.
func (s *Service) storeBatch(ctx context.Context, msgs []Message) error {
	applied, err := s.store.Apply(ctx, msgs)
	if err != nil {
		return err
	}
	if err := s.publishChange(ctx, change{Convs: applied.Convs, Totals: applied.Totals}); err != nil {
		return err
	}
	now := s.now().UnixMilli()
	for _, m := range msgs {
		s.m.storeLag.Observe(float64(max(0, now-m.Ts)) / 1000)
	}
	s.m.stored.Add(float64(applied.Stored))
	s.m.batch.Observe(float64(len(msgs)))
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		if err := s.hot.putMessages(hctx, msgs); err != nil {
			s.m.failures.WithLabelValues("hot").Inc() // reads of these fall back to the store
		}
		cancel()
	}
	return nil
}

// deliver pushes a queued message to both sides' connections (the receiver's, and the
// sender's other devices) as IM_MSG. The push is durable once the push stream takes it.
func (s *Service) deliver(qm queue.Msg) {
	m, err := decodeMessage(qm.Data())
	if err != nil {
		_ = qm.Term() // the writer logs it
		return
	}
	ctx, cancel := context.WithTimeout(queue.MsgContext(context.Background(), qm), pushTimeout)
	defer cancel()
	if err := s.pusher.PushUsers(ctx, []int64{m.To, m.From}, impath.Event("IM_MSG", m)); err != nil {
		s.m.failures.WithLabelValues("deliver").Inc()
		s.log.Warn("im-chat: delivery failed, queued for another try", "id", m.ID, "err", err)
		_ = qm.NakWithDelay(impath.RetryDelay)
		return
	}
	s.m.delivered.Inc()
	_ = qm.Ack()
}

// notify pushes an event to users; a failure is logged, not returned: the change it reports
// is stored, and clients see it on their next read.
func (s *Service) notify(ctx context.Context, uids []int64, cmd string, data any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if err := s.pusher.PushUsers(ctx, uids, impath.Event(cmd, data)); err != nil {
		s.m.failures.WithLabelValues("deliver").Inc()
		s.log.WarnContext(ctx, "im-chat: event push failed", "cmd", cmd, "err", err)
	}
}
