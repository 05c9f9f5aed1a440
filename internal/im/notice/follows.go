package notice

import (
	"context"
	"encoding/json"
	"time"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Follows: account publishes each new follow on the FOLLOWS stream (account.FollowStream).
// im-notice reads it with a durable consumer of its own (followsConsumer) and gives the
// followed user a follow notice, "alice followed you" — once per follow event (Store.Follow,
// claimed by the event's id in the transaction that delivers the notice), however often the
// stream delivers it, and at most once per follower and UTC day, so following, unfollowing
// and following again cannot flood a user's notices. One notice per follower, not folded: a
// follow is news about one person, whom the followed user may want to look at. An unfollow
// publishes nothing.
const followsConsumer = "im-notice-follows"

// startFollows creates the FOLLOWS stream if need be and consumes it.
func (s *Service) startFollows(ctx context.Context) error {
	if err := s.q.EnsureStream(ctx, account.FollowStream(s.q)); err != nil {
		return err
	}
	return s.consumers.Consume(ctx, s.q, queue.ConsumerSpec{Stream: s.q.Stream(account.FollowStreamName), Durable: followsConsumer,
		AckWait: 30 * time.Second, MaxPending: 1000}, s.follows)
}

// follows handles one follow event. A failure (the store away) leaves it to the queue for
// another try; a notice already given is not given twice.
func (s *Service) follows(qm queue.Msg) {
	var ev account.FollowEvent
	if err := json.Unmarshal(qm.Data(), &ev); err != nil || ev.ID <= 0 || ev.Follower <= 0 || ev.Followee <= 0 {
		s.m.skipped.WithLabelValues(skipBadEvent).Inc()
		s.log.Warn("im-notice: unreadable follow event skipped", "err", err)
		_ = qm.Ack()
		return
	}
	s.settle(qm, s.follow(s.ctx, ev), "im-notice: follow notice not stored, queued for another try", "event", ev.ID)
}

// follow gives the followed user the notice of ev, once.
func (s *Service) follow(ctx context.Context, ev account.FollowEvent) error {
	if ev.Follower == ev.Followee { // account refuses it; an event says so only if forged
		s.m.skipped.WithLabelValues(skipSelf).Inc()
		return nil
	}
	id, err := s.ids.Next()
	if err != nil {
		return err
	}
	who := ev.Name
	if who == "" {
		who = "someone"
	}
	n := Notice{ID: id, Business: "account", Kind: KindFollow, Title: who + " followed you", Sender: ev.Follower, Ts: ev.Ts,
		Actors: []Actor{{UID: ev.Follower, Name: ev.Name}}}
	fresh, err := s.store.Follow(ctx, ev.ID, ev.Followee, n)
	if err != nil {
		return err
	}
	if !fresh { // the event again, or the same follower earlier that day
		s.m.skipped.WithLabelValues(skipReplay).Inc()
		return nil
	}
	s.m.produced.WithLabelValues("follow").Inc()
	s.log.Info("follow notice", "notice", id, "uid", ev.Followee, "by", ev.Follower, "event", ev.ID)
	s.pushNotice(ctx, ev.Followee, n, true)
	return nil
}
