package notice

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

// Likes: room stores every like request as an event on the LIKES stream; im-notice folds the
// same events, with a durable consumer of its own (likesConsumer), into one like notice per
// (anchor, room, like_window): its count grows and it names the latest likers. Each flush
// claims its events by id in im_notice_like_events (aggregate.ClaimIDs) and updates the
// notices in the same transaction, acknowledged after the commit: a like redelivered, or
// published again by a retried request, counts once. A notice counts one unread when it is
// opened; likes added to it later do not count again, and once it is read its window's
// later likes only raise its count — the next window's first like opens a new unread one.
// After each flush the anchor gets IM_NOTICE with the notice's new count: at most one push
// per notice and flush, however many likes the flush held.
const (
	likesConsumer   = "im-notice-likes"
	likesFlushEvery = time.Second
	likesMaxPending = 10_000
	likesAckWait    = 30 * time.Second
	// likeIDsKept: the LIKES stream keeps an event 7 days; its id is kept a day longer.
	likeIDsKept     = 8 * 24 * time.Hour
	likesPruneEvery = time.Hour
	likesPruneLease = "im-notice-likes-prune"
)

// likeKey is one like event as the fold sees it: the room, the liker and when.
type likeKey struct{ Room, UID, Ts int64 }

// likeSink applies the flushes of likes. Flushes run one at a time, so the fields describing
// the last one need no lock.
type likeSink struct {
	s       *Service
	changed []likeChange
	skipped map[string]int
}

type likeChange struct {
	uid   int64
	n     Notice
	fresh bool
}

// newLikes builds the durable fold of likes.
func (s *Service) newLikes() (*aggregate.Durable[likeKey], error) {
	sink := &likeSink{s: s}
	q := s.q
	return aggregate.NewDurable[likeKey](aggregate.DurableConfig{
		Config: aggregate.Config{Window: likesFlushEvery, MaxPending: likesMaxPending},
		Stream: q.Stream(room.LikesStreamName),
		Consumer: jetstream.ConsumerConfig{
			Durable: likesConsumer, FilterSubject: q.Subject(room.LikesSubjectPrefix + ">"),
			AckWait: likesAckWait, MaxAckPending: likesMaxPending, DeliverPolicy: jetstream.DeliverAllPolicy,
		},
		OnFlush: sink.flushed,
	}, q.JS, s.db.DB, sink, aggregate.Options{Name: likesConsumer, Logger: s.log, Registry: s.reg})
}

// startLikes creates the LIKES stream if need be and starts the fold and, once per
// cluster, the pruning of old event ids.
func (s *Service) startLikes(ctx context.Context) error {
	if err := room.EnsureLikesStream(ctx, s.q); err != nil {
		return err
	}
	if err := s.likes.Start(ctx); err != nil {
		return err
	}
	pruner := aggregate.Pruner{DB: s.db.DB, Table: likeEventsTable, Keep: likeIDsKept, Now: s.now, Log: s.log}
	s.wg.Go(func() { s.leases.Run(s.ctx, likesPruneLease, likesPruneEvery, pruner.Prune) })
	return nil
}

func (k *likeSink) Decode(data []byte) (aggregate.Event[likeKey], error) {
	var ev room.LikeEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		k.s.m.skipped.WithLabelValues(skipBadEvent).Inc()
		return aggregate.Event[likeKey]{}, err
	}
	if ev.Room <= 0 || ev.UID <= 0 || ev.Count < 1 {
		k.s.m.skipped.WithLabelValues(skipBadEvent).Inc()
		return aggregate.Event[likeKey]{}, fmt.Errorf("like event %+v: want a room, a user and a count", ev)
	}
	if ev.Ts <= 0 {
		ev.Ts = k.s.now().UnixMilli() // an event stored before events carried their time
	}
	return aggregate.Event[likeKey]{ID: ev.ID, Deltas: []aggregate.Delta[likeKey]{{Key: likeKey{ev.Room, ev.UID, ev.Ts}, N: ev.Count}}}, nil
}

// likeGroup is what one flush adds to one like notice.
type likeGroup struct {
	anchor, room, window int64
	likes                []aggregate.Delta[likeKey]
}

func (k *likeSink) Apply(ctx context.Context, tx *sql.Tx, b aggregate.Batch[likeKey]) (aggregate.Result, error) {
	s := k.s
	k.changed, k.skipped = nil, map[string]int{}
	fresh, err := aggregate.ClaimIDs(ctx, tx, likeEventsTable, b.Events, s.now().UnixMilli())
	if err != nil {
		return aggregate.Result{}, err
	}
	k.skipped[skipReplay] = len(b.Events) - len(fresh)
	var likes []aggregate.Delta[likeKey]
	rooms := map[int64]int64{} // room → anchor
	for _, e := range fresh {
		for _, d := range e.Deltas {
			likes = append(likes, d)
			rooms[d.Key.Room] = 0
		}
	}
	for id := range rooms {
		pctx, cancel := context.WithTimeout(ctx, peerTimeout)
		rm, err := s.rooms.Get(pctx, id)
		cancel()
		if errors.Is(err, room.ErrRoomNotFound) || apierr.From(err).Status == 404 {
			delete(rooms, id)
			continue
		}
		if err != nil {
			return aggregate.Result{}, fmt.Errorf("room %d: %w", id, err)
		}
		rooms[id] = rm.OwnerUID
	}
	groups := map[[3]int64]*likeGroup{}
	likers := map[int64]bool{}
	windowMs := s.cfg.LikeWindow.Milliseconds()
	for _, d := range likes {
		anchor, ok := rooms[d.Key.Room]
		switch {
		case !ok:
			k.skipped[skipNoRoom]++
			continue
		case anchor == d.Key.UID:
			k.skipped[skipSelf]++
			continue
		}
		key := [3]int64{anchor, d.Key.Room, d.Key.Ts - d.Key.Ts%windowMs}
		g := groups[key]
		if g == nil {
			g = &likeGroup{anchor: key[0], room: key[1], window: key[2]}
			groups[key] = g
		}
		g.likes = append(g.likes, d)
		likers[d.Key.UID] = true
	}
	if len(groups) == 0 {
		return aggregate.Result{Applied: len(fresh)}, nil
	}
	pctx, cancel := context.WithTimeout(ctx, peerTimeout)
	names, err := s.accounts.Names(pctx, slices.Collect(maps.Keys(likers)))
	cancel()
	if err != nil {
		return aggregate.Result{}, fmt.Errorf("likers' names: %w", err)
	}
	// In key order, so that concurrent flushes lock the notices in one order.
	keys := slices.SortedFunc(maps.Keys(groups), func(a, b [3]int64) int { return slices.Compare(a[:], b[:]) })
	for _, key := range keys {
		g := groups[key]
		slices.SortFunc(g.likes, func(a, b aggregate.Delta[likeKey]) int { return cmp.Compare(b.Key.Ts, a.Key.Ts) }) // newest first
		l := LikeDelta{Room: g.room, Ts: g.likes[0].Key.Ts}
		for _, d := range g.likes {
			l.Count += d.N
			l.Likers = append(l.Likers, Actor{UID: d.Key.UID, Name: names[d.Key.UID]})
		}
		id, err := s.ids.Next()
		if err != nil {
			return aggregate.Result{}, err
		}
		n, created, err := s.store.AddLikes(ctx, tx, g.anchor, g.window, id, l)
		if err != nil {
			return aggregate.Result{}, err
		}
		k.changed = append(k.changed, likeChange{uid: g.anchor, n: n, fresh: created})
	}
	return aggregate.Result{Applied: len(fresh), Keys: len(groups)}, nil
}

// flushed counts and pushes what a committed flush changed; a failed one is retried by the
// fold with the same events.
func (k *likeSink) flushed(r aggregate.FlushReport) {
	s := k.s
	if r.Err != nil {
		s.m.failures.Inc()
		s.log.Warn("im-notice: likes not folded, retrying", "events", r.Messages, "err", r.Err)
		return
	}
	for reason, n := range k.skipped {
		s.m.skipped.WithLabelValues(reason).Add(float64(n))
	}
	for _, c := range k.changed {
		if c.fresh {
			s.m.produced.WithLabelValues("like").Inc()
			s.log.Info("like notice", "notice", c.n.ID, "uid", c.uid, "room_id", c.n.Room)
		}
		s.pushNotice(context.Background(), c.uid, c.n, c.fresh)
	}
	k.changed = nil
}
