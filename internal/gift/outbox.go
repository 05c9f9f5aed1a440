package gift

import (
	"context"
	"time"
)

// The outbox: an order is committed with published = 0 and marked published once its event is
// on the queue. The relay re-publishes orders still unmarked after relayAge, so a crash or a
// queue outage between commit and publish loses no event; the order id as message id makes a
// re-publish of an event that did reach the stream a no-op within the duplicate window, and
// the aggregation counts each order once beyond it.
const (
	relayAge   = time.Second // younger orders are still being published by their request
	relayBatch = 256
)

// relayLease names the lease of the outbox relay. The relay runs once per cluster: every
// gift process would otherwise scan the same unpublished orders and publish each of them
// once per process (harmless, thanks to the message id and the claimed ids, but N times the
// work); a process that holds no lease keeps publishing its own orders as they commit.
const relayLease = "gift-outbox"

// relay is one pass of the relay, run every relay_interval by the holder of relayLease.
func (s *Service) relay(ctx context.Context) {
	if _, err := s.relayOnce(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("gift outbox relay failed, retrying next interval", "err", err)
	}
}

// relayOnce publishes every unpublished order older than relayAge and marks it published. It
// returns how many it published.
func (s *Service) relayOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		orders, err := s.store.Unpublished(ctx, time.Now().Add(-relayAge).UnixMilli(), relayBatch)
		if err != nil {
			return total, err
		}
		done := make([]int64, 0, len(orders))
		var pubErr error
		for _, o := range orders {
			if pubErr = s.publish(ctx, o); pubErr != nil {
				s.m.publishFails.Inc()
				break
			}
			done = append(done, o.ID)
		}
		if len(done) > 0 {
			if err := s.store.MarkPublished(ctx, done); err != nil {
				return total, err
			}
			total += len(done)
			s.m.relayed.Add(float64(len(done)))
			s.log.Info("gift outbox relay published orders", "count", len(done))
		}
		if pubErr != nil {
			return total, pubErr
		}
		if len(orders) < relayBatch {
			return total, nil
		}
	}
}
