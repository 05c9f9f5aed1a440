package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zhibo-live/zhibo/internal/im/impath"
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

// store is the store writer's batch (impath.Writer): write diffusion in one transaction, the
// content in the hot tier, then the states and timeline entries it left on the change stream
// for the hot tier (until it has them the batch is not acknowledged: a redelivery reads and
// sends them again).
func (s *Service) storeBatch(ctx context.Context, msgs []Message) error {
	applied, err := s.store.Apply(ctx, msgs)
	if err != nil {
		return err
	}
	if s.hot != nil {
		// The content first, so the tier's reads of these entries find it (a read that does
		// not falls back to the store).
		hctx, cancel := s.shared.Bound(ctx)
		if err := s.hot.putMessages(hctx, msgs); err != nil {
			s.m.failures.WithLabelValues("hot").Inc()
		}
		cancel()
		// The states after the batch, also when it was stored before (a redelivery): the hot
		// tier may have missed their events then.
		convs, totals, err := s.store.States(ctx, msgs)
		if err != nil {
			return err
		}
		if err := s.publishChange(ctx, change{Convs: convs, Totals: totals, Entries: entries(msgs)}); err != nil {
			return err
		}
	}
	now := s.now().UnixMilli()
	for _, m := range msgs {
		s.m.storeLag.Observe(float64(max(0, now-m.Ts)) / 1000)
	}
	s.m.stored.Add(float64(applied.Stored))
	s.m.batch.Observe(float64(len(msgs)))
	return nil
}

// deliverParallel bounds the pushes a deliverer batch has in flight.
const deliverParallel = 32

// deliverBatch pushes each message to both sides' connections (the receiver's, and the
// sender's other devices) as IM_MSG. The messages of one conversation direction are pushed in
// order, different ones at once. Each push carries the message's id, so a batch retried after
// a failure, or a redelivery, reaches nobody twice within the push stream's duplicate window.
func (s *Service) deliverBatch(ctx context.Context, msgs []Message) error {
	type pair struct{ from, to int64 }
	var order []pair
	lines := map[pair][]Message{}
	for _, m := range msgs {
		p := pair{m.From, m.To}
		if _, ok := lines[p]; !ok {
			order = append(order, p)
		}
		lines[p] = append(lines[p], m)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deliverParallel)
	for _, p := range order {
		g.Go(func() error {
			for _, m := range lines[p] {
				to := []int64{m.To, m.From}
				agent, err := s.agentOf(gctx, m) // a service account's conversation: its agent too
				if err != nil {
					return err
				}
				if agent != 0 {
					to = append(to, agent)
				}
				if err := s.pusher.PushUsersOnce(gctx, to, "im-"+strconv.FormatInt(m.ID, 10), impath.Event("IM_MSG", m)); err != nil {
					return err
				}
				s.m.delivered.Inc()
			}
			return nil
		})
	}
	return g.Wait()
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
