package account

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// The follow graph: users follow users (an anchor is a user). An edge is added and removed
// with the two users' counts in one transaction, so the counts are one row read and never
// drift from the edges. A new edge is published on the FOLLOWS stream, where im-notice gives
// the followed user a follow notice; removing one publishes nothing.
const (
	// FollowStreamName is the stream of new follows; subjects are FollowSubjectPrefix + followee.
	FollowStreamName    = "FOLLOWS"
	FollowSubjectPrefix = "follow.user."
	followMaxAge        = 24 * time.Hour
	followDuplicates    = 10 * time.Minute
	followPublishWait   = 5 * time.Second
	// maxFollowPage bounds one page of followers or followees.
	maxFollowPage = 100
)

// FollowStream is the spec of the FOLLOWS stream; account and its consumers ensure the same
// one, whichever starts first.
func FollowStream(q *queue.Queue) queue.StreamSpec {
	return queue.StreamSpec{Name: q.Stream(FollowStreamName), Subjects: []string{q.Subject(FollowSubjectPrefix + ">")},
		MaxAge: followMaxAge, MaxBytes: 1 << 30, Duplicates: followDuplicates}
}

// FollowEvent is a new follow on the FOLLOWS stream. ID is a Snowflake id given when the edge
// was added: every copy of the event carries it, so a consumer handles it once.
type FollowEvent struct {
	ID       int64  `json:"id"`
	Follower int64  `json:"follower"`
	Name     string `json:"name"` // the follower's name
	Followee int64  `json:"followee"`
	Ts       int64  `json:"ts"` // unix ms
}

// FollowPair names a possible edge: Follower follows Followee.
type FollowPair struct {
	Follower int64
	Followee int64
}

// FollowCounts are a user's follower and following counts.
type FollowCounts struct {
	Followers int64 `json:"followers"`
	Following int64 `json:"following"`
}

// Relation is a user's counts and how the viewer stands to them.
type Relation struct {
	UID int64 `json:"uid"`
	FollowCounts
	// Followed: the viewer follows the user; FollowsYou: the user follows the viewer (both
	// false for an anonymous viewer or the user themself).
	Followed   bool `json:"followed"`
	FollowsYou bool `json:"follows_you"`
}

// Followed is one user of a follow list and when the edge was made (unix ms).
type Followed struct {
	UID  int64  `json:"uid"`
	Name string `json:"name"`
	At   int64  `json:"followed_at"`
}

// FollowCursor is a position in a follow list, most recent first: the list continues with
// the edges made before At, or at At by a lower uid. The zero cursor is the top.
type FollowCursor struct {
	At  int64
	UID int64
}

func (c FollowCursor) String() string {
	return strconv.FormatInt(c.At, 10) + "_" + strconv.FormatInt(c.UID, 10)
}

// ParseFollowCursor reads a cursor a follow page gave ("" is the top).
func ParseFollowCursor(s string) (FollowCursor, error) {
	if s == "" {
		return FollowCursor{}, nil
	}
	a, b, ok := strings.Cut(s, "_")
	at, err1 := strconv.ParseInt(a, 10, 64)
	uid, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || at < 0 || uid <= 0 {
		return FollowCursor{}, apierr.BadRequest.Withf("cursor %q is not one this API gave", s)
	}
	return FollowCursor{At: at, UID: uid}, nil
}

// FollowPage is one page of a follow list; Next continues it ("" at the end).
type FollowPage struct {
	Items []Followed `json:"items"`
	Next  string     `json:"next,omitempty"`
}

// followEvents publishes new follows (nil queue or ids: none is published).
type followEvents struct {
	q     *queue.Queue
	ready atomic.Bool // the stream is known to exist
}

func (p *followEvents) publish(ctx context.Context, ev FollowEvent) error {
	if !p.ready.Load() {
		if err := p.q.EnsureStream(ctx, FollowStream(p.q)); err != nil {
			return err
		}
		p.ready.Store(true)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return p.q.Publish(ctx, p.q.Subject(FollowSubjectPrefix+strconv.FormatInt(ev.Followee, 10)), data,
		"follow:"+strconv.FormatInt(ev.ID, 10))
}

// Follow makes follower follow followee. Following again changes nothing (idempotent);
// following oneself is ErrFollowSelf, an unknown followee ErrUserNotFound. A new edge is
// published for the follow notice, best effort: the follow stands when the queue refuses
// it (counted in zhibo_account_follow_events_total{result="error"}), and no notice is given.
func (s *Service) Follow(ctx context.Context, follower, followee int64) error {
	if err := s.checkFollow(ctx, follower, followee); err != nil {
		return err
	}
	now := s.now().UnixMilli()
	fresh, err := s.store.Follow(ctx, follower, followee, now)
	if err != nil || !fresh {
		return err
	}
	s.m.follows.WithLabelValues("follow").Inc()
	s.publishFollow(ctx, follower, followee, now)
	return nil
}

// Unfollow ends follower's follow of followee; unfollowing a user not followed changes
// nothing (idempotent). No event: an unfollow gives no notice.
func (s *Service) Unfollow(ctx context.Context, follower, followee int64) error {
	if err := s.checkFollow(ctx, follower, followee); err != nil {
		return err
	}
	gone, err := s.store.Unfollow(ctx, follower, followee)
	if err == nil && gone {
		s.m.follows.WithLabelValues("unfollow").Inc()
	}
	return err
}

func (s *Service) checkFollow(ctx context.Context, follower, followee int64) error {
	switch {
	case followee <= 0:
		return apierr.BadRequest.Withf("uid must be a user id")
	case follower == followee:
		return ErrFollowSelf
	}
	if _, err := s.User(ctx, followee); err != nil {
		if errors.Is(err, ErrUserNotFound) {
			return ErrUserNotFound.Withf("user %d not found", followee)
		}
		return err
	}
	return nil
}

func (s *Service) publishFollow(ctx context.Context, follower, followee, now int64) {
	if s.followEvents == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), followPublishWait)
	defer cancel()
	err := func() error {
		id, err := s.ids.Next()
		if err != nil {
			return err
		}
		names, err := s.Names(ctx, []int64{follower})
		if err != nil {
			return err
		}
		return s.followEvents.publish(ctx, FollowEvent{ID: id, Follower: follower, Name: names[follower], Followee: followee, Ts: now})
	}()
	if err != nil {
		s.m.followEvents.WithLabelValues("error").Inc()
		s.log.WarnContext(ctx, "account: follow not published for its notice", "follower", follower, "followee", followee, "err", err)
		return
	}
	s.m.followEvents.WithLabelValues("ok").Inc()
}

// Follows implements Client: whether each pair's follower follows its followee, in order.
func (s *Service) Follows(ctx context.Context, pairs []FollowPair) ([]bool, error) {
	if len(pairs) > maxNames {
		return nil, apierr.BadRequest.Withf("at most %d pairs per call", maxNames)
	}
	return s.store.Follows(ctx, pairs)
}

// Relation returns uid's counts and, for a signed-in viewer (0 = anonymous), whether each
// follows the other. ErrUserNotFound for an unknown uid.
func (s *Service) Relation(ctx context.Context, viewer, uid int64) (Relation, error) {
	if _, err := s.User(ctx, uid); err != nil {
		return Relation{}, err
	}
	c, err := s.store.FollowCounts(ctx, uid)
	if err != nil {
		return Relation{}, err
	}
	rel := Relation{UID: uid, FollowCounts: c}
	if viewer > 0 && viewer != uid {
		f, err := s.store.Follows(ctx, []FollowPair{{viewer, uid}, {uid, viewer}})
		if err != nil {
			return Relation{}, err
		}
		rel.Followed, rel.FollowsYou = f[0], f[1]
	}
	return rel, nil
}

// Followers returns a page of uid's followers, most recent first.
func (s *Service) Followers(ctx context.Context, uid int64, cursor string, limit int) (FollowPage, error) {
	return s.followPage(ctx, uid, followersSide, cursor, limit)
}

// Following returns a page of the users uid follows, most recent first.
func (s *Service) Following(ctx context.Context, uid int64, cursor string, limit int) (FollowPage, error) {
	return s.followPage(ctx, uid, followingSide, cursor, limit)
}

func (s *Service) followPage(ctx context.Context, uid int64, side int, cursor string, limit int) (FollowPage, error) {
	c, err := ParseFollowCursor(cursor)
	if err != nil {
		return FollowPage{}, err
	}
	if _, err := s.User(ctx, uid); err != nil {
		return FollowPage{}, err
	}
	limit = min(max(limit, 1), maxFollowPage)
	items, err := s.store.FollowPage(ctx, uid, side, c, limit)
	if err != nil {
		return FollowPage{}, err
	}
	page := FollowPage{Items: items}
	if page.Items == nil {
		page.Items = []Followed{}
	}
	if len(items) == 0 {
		return page, nil
	}
	uids := make([]int64, len(items))
	for i, f := range items {
		uids[i] = f.UID
	}
	names, err := s.Names(ctx, uids)
	if err != nil {
		return FollowPage{}, err
	}
	for i := range page.Items {
		page.Items[i].Name = names[page.Items[i].UID]
	}
	if len(items) == limit {
		last := items[len(items)-1]
		page.Next = FollowCursor{At: last.At, UID: last.UID}.String()
	}
	return page, nil
}
