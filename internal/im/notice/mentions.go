package notice

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/im/impath"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Mentions and replies: danmaku publishes each stored comment whose text has an '@', or that
// replies to someone else's comment, on the MENTIONS stream (danmaku.MentionStream), from its
// outbox: once acknowledged, at least once. im-notice reads it with a durable consumer of its
// own (mentionsConsumer). A reply gives the sender of the comment it answers a reply notice
// (im_notice.replies); the @names of a comment are resolved through account and give each
// named user a mention notice (im_notice.mentions) — the user a comment replies to excepted,
// whose reply notice says it. Each is given once per comment and user (Store.ForComment),
// however often the stream delivers the comment. The stream keeps a day: a comment is noticed
// if im-notice reads it within that day.
const (
	mentionsConsumer = "im-notice-mentions"
	peerTimeout      = 5 * time.Second
)

// startMentions creates the MENTIONS stream if need be and consumes it.
func (s *Service) startMentions(ctx context.Context) error {
	if err := s.q.EnsureStream(ctx, danmaku.MentionStream(s.q)); err != nil {
		return err
	}
	return s.consumers.Consume(ctx, s.q, queue.ConsumerSpec{Stream: s.q.Stream(danmaku.MentionStreamName), Durable: mentionsConsumer,
		AckWait: 30 * time.Second, MaxPending: 1000}, s.mentions)
}

// mentions handles one comment of the MENTIONS stream: its reply notice, then its mention
// notices. A failure (account or the store away) leaves it to the queue for another try; the
// notices already given are not given twice.
func (s *Service) mentions(qm queue.Msg) {
	var c danmaku.Mention
	if err := json.Unmarshal(qm.Data(), &c); err != nil || c.ID <= 0 || c.UID <= 0 {
		s.m.skipped.WithLabelValues(skipBadEvent).Inc()
		s.log.Warn("im-notice: unreadable comment skipped", "err", err)
		_ = qm.Ack()
		return
	}
	err := s.reply(s.ctx, c)
	if err == nil {
		err = s.mention(s.ctx, c)
	}
	s.settle(qm, err, "im-notice: mention or reply notices not stored, queued for another try", "comment", c.ID)
}

// settle ends the handling of an event: acknowledged when handled (err nil); else left to the
// queue — at once when the service is stopping (the next process takes it on), after
// impath.RetryDelay on a failure, counted and logged with msg and args.
func (s *Service) settle(qm queue.Msg, err error, msg string, args ...any) {
	switch {
	case err == nil:
		_ = qm.Ack()
	case s.ctx.Err() != nil:
		_ = qm.Nak()
	default:
		s.m.failures.Inc()
		s.log.Warn(msg, append(args, "err", err)...)
		_ = qm.NakWithDelay(impath.RetryDelay)
	}
}

// reply gives the sender of the comment c answers their reply notice, once; nothing when
// replies are off, c answers no comment, or its own sender's.
func (s *Service) reply(ctx context.Context, c danmaku.Mention) error {
	if !s.cfg.Replies || c.ReplyUID <= 0 {
		return nil
	}
	if c.ReplyUID == c.UID { // danmaku publishes no such reply; one with an '@' comes all the same
		s.m.skipped.WithLabelValues(skipSelf).Inc()
		return nil
	}
	id, err := s.ids.Next()
	if err != nil {
		return err
	}
	n := Notice{ID: id, Business: "danmaku", Kind: KindReply, Title: c.Uname + " replied to your comment", Body: c.Text,
		Sender: c.UID, Ts: c.Ts, Room: c.RoomID, Actors: []Actor{{UID: c.UID, Name: c.Uname}}, ReplyTo: c.ReplyTo}
	return s.give(ctx, c, c.ReplyUID, n)
}

// mention gives the users a comment names their notice.
func (s *Service) mention(ctx context.Context, c danmaku.Mention) error {
	if !s.cfg.Mentions {
		return nil
	}
	names, over := Mentioned(c.Text, s.cfg.MaxMentions)
	if over > 0 {
		s.m.skipped.WithLabelValues(skipOverCap).Add(float64(over))
	}
	if len(names) == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, peerTimeout)
	uids, err := s.accounts.UIDs(pctx, names)
	cancel()
	if err != nil {
		return err
	}
	for _, name := range names {
		uid, ok := uids[name]
		switch {
		case !ok:
			s.m.skipped.WithLabelValues(skipUnknown).Inc()
			continue
		case uid == c.UID:
			s.m.skipped.WithLabelValues(skipSelf).Inc()
			continue
		case s.cfg.Replies && uid == c.ReplyUID:
			s.m.skipped.WithLabelValues(skipReplied).Inc()
			continue
		}
		id, err := s.ids.Next()
		if err != nil {
			return err
		}
		n := Notice{ID: id, Business: "danmaku", Kind: KindMention, Title: c.Uname + " mentioned you", Body: c.Text,
			Sender: c.UID, Ts: c.Ts, Room: c.RoomID, Actors: []Actor{{UID: c.UID, Name: c.Uname}}}
		if err := s.give(ctx, c, uid, n); err != nil {
			return err
		}
	}
	return nil
}

// give stores the notice n that comment c gives uid, once per comment and user, and pushes
// it when it is new.
func (s *Service) give(ctx context.Context, c danmaku.Mention, uid int64, n Notice) error {
	fresh, err := s.store.ForComment(ctx, c.ID, uid, n)
	if err != nil {
		return err
	}
	kind := kindName(n.Kind)
	if !fresh {
		s.m.skipped.WithLabelValues(skipReplay).Inc()
		return nil
	}
	s.m.produced.WithLabelValues(kind).Inc()
	s.log.Info(kind+" notice", "notice", n.ID, "uid", uid, "by", c.UID, "room_id", c.RoomID, "comment", c.ID)
	s.pushNotice(ctx, uid, n, true)
	return nil
}

// Mentioned returns the distinct names a text mentions as @name, in order and at most max
// (compared without regard to case), and how many more it names. A name is what an account
// name may be: 2 to 32 letters, digits, '_' and '-'; an '@' after a letter or digit (an
// e-mail address) is no mention.
func Mentioned(text string, max int) (names []string, over int) {
	seen := map[string]bool{}
	prev := ' '
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r != '@' || isNameRune(prev) {
			prev = r
			continue
		}
		prev = r
		start, n := i, 0
		for i < len(text) {
			c, cs := utf8.DecodeRuneInString(text[i:])
			if !isNameRune(c) {
				break
			}
			i, n, prev = i+cs, n+1, c
		}
		key := strings.ToLower(text[start:i])
		if n < 2 || n > 32 || seen[key] {
			continue
		}
		seen[key] = true
		if len(names) < max {
			names = append(names, text[start:i])
		} else {
			over++
		}
	}
	return names, over
}

func isNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-'
}

// pushNotice pushes IM_NOTICE to uid's connections. fresh says the notice is new in the
// inbox (counted unread); false is a like notice's new count. A failed push leaves the
// notice in the inbox.
func (s *Service) pushNotice(ctx context.Context, uid int64, n Notice, fresh bool) {
	pctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	ev := impath.Event("IM_NOTICE", pushed{Notice: n, New: fresh})
	if err := s.pusher.PushUsers(pctx, []int64{uid}, ev); err != nil {
		s.m.pushFailures.Inc()
		s.log.Warn("im-notice: push failed; the notice waits in the inbox", "notice", n.ID, "uid", uid, "err", err)
	}
}

// pushed is an interactive notice as IM_NOTICE carries it.
type pushed struct {
	Notice
	// New is true when the notice arrived in the inbox with this push (one more unread of
	// its kind), false when a like notice already there has a new count.
	New bool `json:"new"`
}
