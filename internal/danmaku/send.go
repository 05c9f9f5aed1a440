package danmaku

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Send implements Client.
func (s *Service) Send(ctx context.Context, roomID, uid int64, text string, color, mode int, replyTo int64) (int64, error) {
	if uid <= 0 {
		return 0, apierr.Unauthorized
	}
	rm, err := s.getRoom(ctx, roomID)
	if err != nil {
		return 0, err
	}
	return s.send(ctx, rm, uid, text, color, mode, replyTo)
}

// send runs the checks in a fixed order — input, banned words, mute, the comment replied to,
// rate — so that only a comment that would otherwise be accepted spends one of the sender's
// tokens; then it stores the comment and pushes it.
func (s *Service) send(ctx context.Context, rm room.Room, uid int64, text string, color, mode int, replyTo int64) (int64, error) {
	if rm.IsOff(room.SwitchComments) {
		s.metrics.rejected.WithLabelValues(reasonOff).Inc()
		return 0, ErrCommentsOff
	}
	in, err := checkInput(text, color, mode, replyTo, s.cfg.MaxRunes)
	if err != nil {
		s.metrics.rejected.WithLabelValues(reasonBadInput).Inc()
		return 0, err
	}
	if s.words.Load().FoundClean(in.text) { // checkInput cleaned it
		s.metrics.rejected.WithLabelValues(reasonBanned).Inc()
		return 0, ErrBanned
	}
	muted, err := s.IsMuted(ctx, rm.ID, uid)
	if err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	if muted {
		s.metrics.rejected.WithLabelValues(reasonMuted).Inc()
		return 0, ErrMuted
	}
	now := s.now()
	var replied Comment
	if in.replyTo != 0 {
		if replied, err = s.repliedTo(ctx, rm.ID, in.replyTo, now); err != nil {
			return 0, err
		}
	}
	if ok, wait := s.limiter.Allow(uid, now); !ok {
		s.metrics.rejected.WithLabelValues(reasonLimited).Inc()
		return 0, &limitedError{
			kind:       ErrRateLimited.Withf("sending comments too fast: try again in %.1fs", wait.Seconds()),
			retryAfter: wait.Seconds(),
		}
	}
	uname, err := s.uname(ctx, uid)
	if err != nil {
		return 0, err
	}
	id, err := s.ids.Next()
	if err != nil {
		return 0, fmt.Errorf("send: comment id: %w", err)
	}
	c := Comment{ID: id, RoomID: rm.ID, UID: uid, Uname: uname, Text: in.text,
		Color: in.color, Mode: in.mode, Ts: now.UnixMilli(),
		ReplyTo: replied.ID, ReplyUID: replied.UID, ReplyUname: replied.Uname}
	if err := s.store.InsertComment(ctx, c); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	s.hist.add(c)
	if s.onComment != nil {
		s.onComment(c)
	}
	s.push(ctx, rm, c)
	s.grantExp(ctx, c)
	s.metrics.accepted.Inc()
	return id, nil
}

// push sends the stored comment to the room as a DANMU_MSG and, when it names someone or
// answers someone else's comment, publishes it for their notices (mentions.go). A failure is
// logged and counted but does not fail the send: the comment is stored and is in the room's
// history, and an error would make the client send it again, storing it twice (a send carries
// no idempotency key). The outbox relay does what is left once the queue is back (outbox.go).
// The push outlives a client that hangs up right after sending, since the comment is already
// stored.
func (s *Service) push(ctx context.Context, rm room.Room, c Comment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PushTimeout)
	defer cancel()
	err := s.pushOnce(ctx, rm, c)
	var pe *publishError
	switch {
	case errors.As(err, &pe):
		s.log.WarnContext(ctx, "danmaku: comment for notices not published, comment pushed; the outbox relay will publish it", "room_id", rm.ID, "id", c.ID, "err", err)
	case err != nil:
		s.metrics.pushFailures.Inc()
		s.log.WarnContext(ctx, "danmaku push failed, comment stored; the outbox relay will push it", "room_id", rm.ID, "id", c.ID, "err", err)
	}
}

// pushOnce publishes a stored comment's DANMU_MSG under its message id, then, when it concerns
// someone else, the comment on the MENTIONS stream under its own (a *publishError when that
// fails); once both are on the queue it has the comment marked pushed. Either published again
// by the relay within its stream's duplicate window is taken once.
func (s *Service) pushOnce(ctx context.Context, rm room.Room, c Comment) error {
	msg := protocol.Danmu{
		ID: c.ID, UID: c.UID, Uname: c.Uname, Text: c.Text, Color: c.Color, Mode: c.Mode,
		SendTime: time.UnixMilli(c.Ts), IsAdmin: c.UID == rm.OwnerUID, RoomID: rm.ID,
		ReplyTo: c.ReplyTo, ReplyUID: c.ReplyUID, ReplyUname: c.ReplyUname,
	}.JSON()
	if err := s.pusher.PushRoomOnce(ctx, rm.ID, pushID(c.ID), msg); err != nil {
		return err
	}
	if err := s.publishMention(ctx, c); err != nil {
		return &publishError{err}
	}
	s.marks.add(c.ID)
	return nil
}

// publishError is a failed publish on the MENTIONS stream, the comment's push having succeeded.
type publishError struct{ err error }

func (e *publishError) Error() string { return "publish for notices: " + e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// repliedTo returns the comment a reply in roomID answers: ErrReplyNotFound when there is
// none, ErrReplyOtherRoom when it was sent to another room, ErrReplyTooOld when it is older
// than danmaku.reply_window. Those refusals are counted with reason bad_reply.
func (s *Service) repliedTo(ctx context.Context, roomID, id int64, now time.Time) (Comment, error) {
	c, ok, err := s.store.Comment(ctx, id)
	if err != nil {
		return Comment{}, fmt.Errorf("send: %w", err)
	}
	switch {
	case !ok:
		err = ErrReplyNotFound.Withf("reply_to: comment %d does not exist", id)
	case c.RoomID != roomID:
		err = ErrReplyOtherRoom.Withf("reply_to: comment %d was sent to another room", id)
	case s.cfg.ReplyWindow > 0 && now.Sub(time.UnixMilli(c.Ts)) > s.cfg.ReplyWindow:
		err = ErrReplyTooOld.Withf("reply_to: comment %d is older than %s, the longest a comment may be replied to", id, s.cfg.ReplyWindow)
	default:
		return c, nil
	}
	s.metrics.rejected.WithLabelValues(reasonReply).Inc()
	return Comment{}, err
}

// expPerComment is the experience an accepted comment earns its sender.
const expPerComment = 1

// grantExp earns the sender experience for the stored comment, the comment id being the
// grant's id. It is best effort, like the push and for the same reasons: the comment stands
// and a send has no idempotency key to retry with. No outbox: a point of experience lost while
// the queue is down (when the DANMU_MSG push fails too) is not worth a write per comment; the
// publisher counts it in zhibo_account_exp_published_total{result="error"}.
func (s *Service) grantExp(ctx context.Context, c Comment) {
	if s.exp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PushTimeout)
	defer cancel()
	if err := s.exp.AddExp(ctx, c.UID, expPerComment, c.ID); err != nil {
		s.log.WarnContext(ctx, "danmaku experience not granted, comment stored", "uid", c.UID, "id", c.ID, "err", err)
	}
}

// uname is the sender's display name, cut to what the store holds.
func (s *Service) uname(ctx context.Context, uid int64) (string, error) {
	u, err := s.accounts.User(ctx, uid)
	if isNotFound(err) {
		return "", apierr.Unauthorized.Withf("user %d does not exist", uid)
	}
	if err != nil {
		return "", peerError("get user", err)
	}
	return truncateRunes(u.Name, unameColumnRunes), nil
}

// History implements Client.
func (s *Service) History(ctx context.Context, roomID int64, limit int) ([]Comment, error) {
	if roomID <= 0 {
		return nil, apierr.BadRequest.Withf("room id must be a positive integer")
	}
	if limit <= 0 || limit > s.cfg.HistorySize {
		limit = s.cfg.HistorySize
	}
	return s.hist.get(ctx, roomID, limit, func(ctx context.Context, n int) ([]Comment, error) {
		items, err := s.store.Recent(ctx, roomID, n)
		for i := range items {
			// Rows stored before the text policy are shown cleaned; a clean text is returned
			// as it is, without a copy.
			items[i].Text = textnorm.Clean(items[i].Text)
		}
		return items, err
	})
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
