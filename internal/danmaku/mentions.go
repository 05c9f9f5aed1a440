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

// Comments that may name someone. A stored comment whose text has an '@' is also published on
// the MENTIONS stream (subject mention.room.<room id>), where im-notice finds the @names and
// gives the users named their mention notices. Its consumers read only these comments, not
// every push of every room. Like the push, the publish is best effort: the comment stands
// when it fails (counted in zhibo_danmaku_mentions_published_total{result="error"}).
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
}

// mentions publishes the comments with an '@' (nil queue: none is published).
type mentions struct {
	q     *queue.Queue
	ready atomic.Bool // the stream is known to exist
}

// publish puts c on the MENTIONS stream when its text has an '@'; false when it has none.
func (p *mentions) publish(ctx context.Context, c Comment) (bool, error) {
	if p.q == nil || !strings.ContainsRune(c.Text, '@') {
		return false, nil
	}
	if !p.ready.Load() {
		if err := p.q.EnsureStream(ctx, MentionStream(p.q)); err != nil {
			return true, err
		}
		p.ready.Store(true)
	}
	data, err := json.Marshal(Mention{ID: c.ID, RoomID: c.RoomID, UID: c.UID, Uname: c.Uname, Text: c.Text, Ts: c.Ts})
	if err != nil {
		return true, err
	}
	sid := strconv.FormatInt(c.ID, 10)
	return true, p.q.Publish(ctx, p.q.Subject(MentionSubjectPrefix+strconv.FormatInt(c.RoomID, 10)), data, "mention:"+sid)
}

// publishMention publishes a stored comment that may name someone (see mentions).
func (s *Service) publishMention(ctx context.Context, c Comment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PushTimeout)
	defer cancel()
	named, err := s.mentions.publish(ctx, c)
	switch {
	case err != nil:
		s.metrics.mentions.WithLabelValues("error").Inc()
		s.log.WarnContext(ctx, "danmaku: comment naming someone not published for mention notices", "id", c.ID, "room_id", c.RoomID, "err", err)
	case named:
		s.metrics.mentions.WithLabelValues("ok").Inc()
	}
}
