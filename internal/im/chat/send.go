package chat

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// SendInput is what a sender gives: the receiver, the text and, optionally, the client's own
// id of the message (a retry with the same id is the same message).
type SendInput struct {
	To       int64  `json:"to"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

// Send accepts a message from `from`: checked, on the queue (so it will be stored and
// delivered), with its id and time. replay is true when ClientID repeats an earlier send:
// the earlier message is returned and nothing new is accepted.
func (s *Service) Send(ctx context.Context, from int64, in SendInput) (m Message, replay bool, err error) {
	defer func() {
		switch {
		case err != nil:
			s.m.refused.WithLabelValues(refusalReason(err)).Inc()
		case replay:
			s.m.replayed.Inc()
		default:
			s.m.accepted.Inc()
		}
	}()
	text, err := s.checkText(in.Text)
	if err != nil {
		return Message{}, false, err
	}
	if in.ClientID != "" && !httpx.ValidIdempotencyKey(in.ClientID) {
		return Message{}, false, ErrBadInput.Withf("client_id must be 1 to 64 letters, digits, '-', '_', '.' or ':'")
	}
	switch {
	case in.To <= 0:
		return Message{}, false, ErrBadInput.Withf("to must be a user id")
	case in.To == from:
		return Message{}, false, ErrSelf
	}
	// One read of the store for the replay check and the receiver's blocks and settings. With
	// the store away the queue's duplicate window still recognises a replay (and the store
	// writer stores a client id once), and the last answer for the pair decides (accepts):
	// the send goes on rather than fail.
	chk, cerr := s.store.CheckSend(ctx, from, in.To, in.ClientID)
	if cerr != nil {
		s.log.DebugContext(ctx, "im-chat: replay check skipped, the store did not answer", "err", cerr)
	} else if chk.SentID != 0 {
		got, err := s.store.Messages(ctx, []int64{chk.SentID})
		if err != nil {
			return Message{}, false, err
		}
		return got[chk.SentID], true, nil
	}
	now := s.now()
	if ok, wait := s.limiter.Allow(from, now); !ok && !s.isBot(from) && !s.isService(from) { // they answer everyone who writes
		return Message{}, false, &limitedError{retryAfter: wait.Seconds()}
	}
	if err := s.mayMessage(ctx, from, in.To, chk, cerr); err != nil {
		return Message{}, false, err
	}
	if !s.isBot(from) && !s.isService(from) && !s.spam.allow(from, in.To, text, now) {
		return Message{}, false, ErrSpam.Withf("this text has reached %d people within %s", s.cfg.SpamReceivers, s.cfg.SpamWindow)
	}
	id, err := s.ids.Next()
	if err != nil {
		return Message{}, false, fmt.Errorf("message id: %w", err)
	}
	m = Message{ID: id, From: from, To: in.To, Text: text, ClientID: in.ClientID, Ts: now.UnixMilli()}
	dedupe := ""
	if in.ClientID != "" {
		dedupe = "im-chat-" + strconv.FormatInt(from, 10) + "-" + in.ClientID
	}
	first, replay, err := impath.Enqueue(ctx, s.q, s.stream(), s.q.Subject(subjectPrefix+strconv.FormatInt(in.To, 10)), m, dedupe)
	if err != nil {
		if errors.Is(err, impath.ErrQueue) {
			return Message{}, false, ErrQueue.Wrap(err)
		}
		return Message{}, false, err
	}
	return first, replay, nil
}

// checkText applies the text policy of private messages (impath.CheckText).
func (s *Service) checkText(text string) (string, error) {
	return impath.CheckText(text, s.cfg.MaxRunes, *s.words.Load(), ErrBadInput, ErrBanned)
}

// mayMessage checks that to exists and accepts messages from from, by what CheckSend read
// (or its error).
func (s *Service) mayMessage(ctx context.Context, from, to int64, chk SendCheck, cerr error) error {
	if err := s.userExists(ctx, to); err != nil {
		return err
	}
	a, err := s.accepts(to, from, chk, cerr)
	if err != nil {
		return err
	}
	switch {
	case a.blocked:
		return ErrBlocked
	case a.set.Allow == AllowNobody:
		return ErrNotAccepting
	case a.set.Allow == AllowFollowers && !a.wrote:
		return s.followersOnly(ctx, from, to)
	}
	return nil
}

// followersOnly admits from to a receiver who takes messages from followers only when from
// follows to, or to follows from, asked of account at each send (a follow or an unfollow
// applies at once). Account away is 503: the send may be tried again.
func (s *Service) followersOnly(ctx context.Context, from, to int64) error {
	f, err := s.accounts.Follows(ctx, []account.FollowPair{{Follower: from, Followee: to}, {Follower: to, Followee: from}})
	if err != nil {
		return apierr.Unavailable.Wrap(fmt.Errorf("ask who follows whom: %w", err))
	}
	if len(f) == 2 && (f[0] || f[1]) {
		return nil
	}
	return ErrFollowersOnly.Withf("user %d accepts private messages only from their followers: follow them first", to)
}

// acceptance is what CheckSend answered for a pair, kept to answer while the store is away.
type acceptance struct {
	blocked bool
	set     Settings
	wrote   bool
}

// accepts says whether to takes messages from from. The store answers every send
// (CheckSend), so a block or a change of settings applies at once; while the store does not
// answer (err), the last answer of the pair (at most acceptStale old) does, so sends go on
// into the queue through a short outage. A pair never seen is refused then (503).
func (s *Service) accepts(to, from int64, chk SendCheck, err error) (acceptance, error) {
	key := [2]int64{to, from}
	if err == nil {
		a := acceptance{chk.Blocked, chk.Settings, chk.Wrote}
		s.accepted.Add(key, a)
		return a, nil
	}
	if last, ok := s.accepted.Get(key); ok {
		s.m.stale.Inc()
		return last, nil
	}
	return acceptance{}, apierr.Unavailable.Wrap(fmt.Errorf("read the receiver's settings: %w", err))
}

// userExists checks uid is a user: accounts are asked once per userTTL per user (accounts are
// not deleted, so a user found stays found).
func (s *Service) userExists(ctx context.Context, uid int64) error {
	if _, ok := s.users.Get(uid); ok {
		return nil
	}
	if _, err := s.accounts.User(ctx, uid); err != nil {
		var e *apierr.Error
		if errors.As(err, &e) && e.Status == 404 {
			return ErrUserNotFound.Withf("user %d not found", uid)
		}
		return apierr.Unavailable.Wrap(fmt.Errorf("look up user %d: %w", uid, err))
	}
	s.users.Add(uid, struct{}{})
	return nil
}

// refusalReason is the reason label of a refused send.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, ErrRateLimited):
		return reasonLimited
	case errors.Is(err, ErrBanned):
		return reasonBanned
	case errors.Is(err, ErrBlocked), errors.Is(err, ErrNotAccepting):
		return reasonBlocked
	case errors.Is(err, ErrUserNotFound):
		return reasonNoUser
	case errors.Is(err, ErrQueue):
		return reasonQueue
	case errors.Is(err, ErrSpam):
		return reasonSpam
	case errors.Is(err, ErrFollowersOnly):
		return reasonNotFollower
	}
	return reasonBadInput
}
