package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// SendInput is a group message as its sender gives it.
type SendInput struct {
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

// Send accepts a message from a member: on the queue when it returns (stored and delivered
// to every member after). replay is true when ClientID repeats an earlier send.
func (s *Service) Send(ctx context.Context, uid, group int64, in SendInput) (m Message, replay bool, err error) {
	defer func() {
		switch {
		case err == nil && !replay:
			s.m.accepted.Inc()
		case errors.Is(err, ErrNotMember), errors.Is(err, ErrNoGroup):
			s.m.refused.WithLabelValues("not_member").Inc()
		case errors.Is(err, ErrRateLimited):
			s.m.refused.WithLabelValues("limited").Inc()
		case errors.Is(err, ErrQueue):
			s.m.refused.WithLabelValues("queue").Inc()
		case err != nil:
			s.m.refused.WithLabelValues("bad_input").Inc()
		}
	}()
	text, err := impath.CheckText(in.Text, s.cfg.MaxRunes, *s.words.Load(), ErrBadInput, ErrBanned)
	if err != nil {
		return Message{}, false, err
	}
	if in.ClientID != "" && !httpx.ValidIdempotencyKey(in.ClientID) {
		return Message{}, false, ErrBadInput.Withf("client_id must be 1 to 64 letters, digits, '-', '_', '.' or ':'")
	}
	// One read of the store for the membership and the replay check.
	chk, err := s.store.CheckSend(ctx, group, uid, in.ClientID)
	if err != nil {
		return Message{}, false, err
	}
	if !chk.IsMember {
		return Message{}, false, s.notMember(ctx, group)
	}
	if chk.SentID != 0 {
		first, _, err := s.store.Message(ctx, chk.SentID)
		return first, true, err
	}
	now := s.now()
	if ok, _ := s.limiter.Allow(uid, now); !ok {
		return Message{}, false, ErrRateLimited
	}
	id, err := s.ids.Next()
	if err != nil {
		return Message{}, false, fmt.Errorf("message id: %w", err)
	}
	m = Message{ID: id, GroupID: group, From: uid, Text: text, ClientID: in.ClientID, Ts: now.UnixMilli()}
	dedupe := ""
	if in.ClientID != "" {
		dedupe = "im-group-" + strconv.FormatInt(uid, 10) + "-" + in.ClientID
	}
	first, replay, err := impath.Enqueue(ctx, s.q, s.stream(), s.q.Subject(subject(group)), m, dedupe)
	if errors.Is(err, impath.ErrQueue) {
		return Message{}, false, ErrQueue.Wrap(err)
	}
	return first, replay, err
}

// member returns uid's membership, ErrNoGroup or ErrNotMember.
func (s *Service) member(ctx context.Context, group, uid int64) (Member, error) {
	mb, ok, err := s.store.Member(ctx, group, uid)
	if err != nil {
		return Member{}, err
	}
	if !ok {
		return Member{}, s.notMember(ctx, group)
	}
	return mb, nil
}

// notMember is the refusal of a user who is not in group: ErrNoGroup when there is no such
// group, else ErrNotMember.
func (s *Service) notMember(ctx context.Context, group int64) error {
	if _, err := s.store.Group(ctx, group); err != nil {
		return err
	}
	return ErrNotMember
}

// decodeMessage reads a queued message.
func decodeMessage(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	if m.ID <= 0 || m.GroupID <= 0 || m.From <= 0 {
		return m, fmt.Errorf("group message without ids: %s", b)
	}
	return m, nil
}
