package danmaku

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Comments that concern someone else. A stored comment whose text has an '@', or that replies
// to someone else's comment, is also published on the MENTIONS stream (subject
// mention.room.<room id>), where im-notice finds the @names and the user replied to and gives
// them their mention and reply notices. Its consumers read only these comments, not every push
// of every room. The publish is part of the comment's outbox, with its push (outbox.go): a
// comment is marked pushed once both are on the queue, and the relay publishes what a queue
// outage or a crash left, under the same message id ("mention:<comment id>"), so the stream
// takes it once within its duplicate window — and im-notice gives each notice once, whatever
// arrives (failures are counted in zhibo_danmaku_mentions_published_total{result="error"}).
const (
	MentionStreamName    = "MENTIONS"
	MentionSubjectPrefix = "mention.room."
	mentionMaxAge        = 24 * time.Hour
	mentionDuplicates    = 10 * time.Minute
)

// MentionStream is the spec of the MENTIONS stream; danmaku and its consumers ensure the same
// one, whichever starts first.
func MentionStream(q *queue.Queue) queue.StreamSpec {
	return queue.StreamSpec{Name: q.Stream(MentionStreamName), Subjects: []string{q.Subject(MentionSubjectPrefix + ">")},
		MaxAge: mentionMaxAge, MaxBytes: 1 << 30, Duplicates: mentionDuplicates}
}

// Mention is a comment on the MENTIONS stream.
type Mention struct {
	ID     int64  `json:"id"` // the comment's id: a consumer handles each comment once
	RoomID int64  `json:"room_id"`
	UID    int64  `json:"uid"`
	Uname  string `json:"uname"`
	Text   string `json:"text"`
	Ts     int64  `json:"ts"` // unix ms
	// ReplyTo is the comment of the room this one answers (absent: none); ReplyUID and
	// ReplyUname are its sender, whom a reply notice goes to.
	ReplyTo    int64  `json:"reply_to,omitempty"`
	ReplyUID   int64  `json:"reply_uid,omitempty"`
	ReplyUname string `json:"reply_uname,omitempty"`
}

// mentions publishes the comments that concern someone else (nil queue: none is published).
type mentions struct {
	q     *queue.Queue
	ready atomic.Bool // the stream is known to exist
}

// concerns reports whether c goes on the MENTIONS stream: its text may name someone, or it
// answers someone else's comment (answering oneself notifies nobody).
func concerns(c Comment) bool {
	return strings.ContainsRune(c.Text, '@') || (c.ReplyUID != 0 && c.ReplyUID != c.UID)
}

// publish puts c on the MENTIONS stream when it concerns someone else; false when it does not.
func (p *mentions) publish(ctx context.Context, c Comment) (bool, error) {
	if p.q == nil || !concerns(c) {
		return false, nil
	}
	if !p.ready.Load() {
		if err := p.q.EnsureStream(ctx, MentionStream(p.q)); err != nil {
			return true, err
		}
		p.ready.Store(true)
	}
	data, err := json.Marshal(Mention{ID: c.ID, RoomID: c.RoomID, UID: c.UID, Uname: c.Uname, Text: c.Text, Ts: c.Ts,
		ReplyTo: c.ReplyTo, ReplyUID: c.ReplyUID, ReplyUname: c.ReplyUname})
	if err != nil {
		return true, err
	}
	sid := strconv.FormatInt(c.ID, 10)
	return true, p.q.Publish(ctx, p.q.Subject(MentionSubjectPrefix+strconv.FormatInt(c.RoomID, 10)), data, "mention:"+sid)
}

// publishMention publishes a stored comment that concerns someone else (see mentions) and
// counts the result; the caller leaves a failed one to the outbox relay.
func (s *Service) publishMention(ctx context.Context, c Comment) error {
	published, err := s.mentions.publish(ctx, c)
	switch {
	case err != nil:
		s.metrics.mentions.WithLabelValues("error").Inc()
	case published:
		s.metrics.mentions.WithLabelValues("ok").Inc()
	}
	return err
}
