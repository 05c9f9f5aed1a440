package group

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/zhibo-live/zhibo/internal/im/hotlist"
)

// The hot tier of groups (with Redis): each group's newest hot_messages message ids (a list of
// package hotlist, keys img:{group}:t, tf, tp, td) and the messages' content (img:m:<id>), kept
// hot_ttl after the group's last message. A group's messages are read by every member, so a
// busy group's history is the store's hottest read; the tier answers it.
//
// The tier is fed by its own consumer of the accepted messages (im-group-cache), not by the
// store writer: a Redis that fails delays the tier, never the store or the pushes. A group's list
// is created by the first message the consumer sees for it, and holds every message from there
// on; a history page the list holds whole comes from it, anything older from the store. A read
// of a group the tier does not hold builds its list from the store in the background.
type hotTier struct {
	c      rueidis.Client
	prefix string
	ttl    time.Duration
	lists  *hotlist.Lists
	builds *hotlist.Background
}

// buildConcurrency bounds the builds in flight; buildTimeout bounds one.
const (
	buildConcurrency = 8
	buildTimeout     = 10 * time.Second
)

func (h *hotTier) base(group int64) string {
	return h.prefix + "img:{" + strconv.FormatInt(group, 10) + "}:"
}

func (h *hotTier) msgKey(id int64) string { return h.prefix + "img:m:" + strconv.FormatInt(id, 10) }

func (h *hotTier) msgKeys(msgs []Message) []string {
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = h.msgKey(m.ID)
	}
	return keys
}

// cacheBatch is the tier consumer's batch (impath.Writer): the messages' content (kept if there
// already: a recall's overwrites it), then each group's list, created by its first message.
func (s *Service) cacheBatch(ctx context.Context, msgs []Message) error {
	if err := hotlist.PutJSON(ctx, s.hot.c, s.hot.msgKeys(msgs), msgs, s.hot.ttl, false); err != nil {
		return err
	}
	items := map[string][]hotlist.Item{}
	for _, m := range msgs {
		b := s.hot.base(m.GroupID)
		items[b] = append(items[b], hotlist.Item{ID: m.ID, Tag: m.From})
	}
	if err := s.hot.lists.Add(ctx, items, true); err != nil {
		return err
	}
	s.m.hotUpdates.Add(float64(len(msgs)))
	return nil
}

// hotHistory is a member's history page from the tier: newer than after (their join), older
// than before, or hotlist.ErrCold / ErrDeep / a Redis error.
func (s *Service) hotHistory(ctx context.Context, group, after, before int64, limit int) ([]Message, error) {
	hctx, cancel := s.shared.Bound(ctx)
	defer cancel()
	ids, err := s.hot.lists.Before(hctx, s.hot.base(group), 0, after, before, limit)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.hot.msgKey(id)
	}
	got, err := hotlist.GetJSON(hctx, s.hot.c, keys, func(i int, m Message) bool { return m.ID == ids[i] })
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]Message, len(ids))
	var missing []int64
	for i, id := range ids {
		if m, ok := got[i]; ok {
			byID[id] = m
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 { // content gone before the list (or not put yet): the store has it
		rest, err := s.store.Messages(ctx, missing)
		if err != nil {
			return nil, err
		}
		maps.Copy(byID, rest)
	}
	out := make([]Message, 0, len(ids))
	for _, id := range ids {
		if m, ok := byID[id]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// historyThrough reads a history page from the tier when it holds it, else from the store
// (starting a build of the group's list when the tier does not hold the group). A Redis that
// fails costs a store read, not an error.
func (s *Service) historyThrough(ctx context.Context, group, after, before int64, limit int) ([]Message, string, error) {
	if s.hot != nil {
		msgs, err := s.hotHistory(ctx, group, after, before, limit)
		switch {
		case err == nil:
			s.m.reads.WithLabelValues(hotlist.SourceHot).Inc()
			return msgs, hotlist.SourceHot, nil
		case errors.Is(err, hotlist.ErrDeep):
		case errors.Is(err, hotlist.ErrCold):
			s.hot.builds.Start(group, func() {
				bctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
				defer cancel()
				s.build(bctx, group)
			})
		default:
			s.m.failures.WithLabelValues("hot").Inc()
		}
	}
	msgs, err := s.store.History(ctx, group, after, before, limit)
	if err == nil {
		s.m.reads.WithLabelValues(hotlist.SourceStore).Inc()
	}
	return msgs, hotlist.SourceStore, err
}

// build puts group's newest messages in the tier from the store.
func (s *Service) build(ctx context.Context, group int64) {
	err := s.hot.lists.Build(ctx, s.hot.base(group), func(ctx context.Context, limit int) ([]hotlist.Item, error) {
		msgs, err := s.store.Recent(ctx, group, limit)
		if err != nil {
			return nil, err
		}
		if err := hotlist.PutJSON(ctx, s.hot.c, s.hot.msgKeys(msgs), msgs, s.hot.ttl, false); err != nil {
			return nil, err
		}
		items := make([]hotlist.Item, len(msgs))
		for i, m := range msgs {
			items[i] = hotlist.Item{ID: m.ID, Tag: m.From}
		}
		return items, nil
	})
	if err != nil {
		s.m.failures.WithLabelValues("hot").Inc()
		s.log.Warn("im-group: hot tier build failed", "group", group, "err", err)
		return
	}
	s.m.builds.Inc()
}

// recalled replaces a message's content in the tier with its recalled form.
func (s *Service) recalled(ctx context.Context, m Message) {
	if s.hot == nil {
		return
	}
	hctx, cancel := s.shared.Bound(ctx)
	defer cancel()
	if err := hotlist.PutJSON(hctx, s.hot.c, []string{s.hot.msgKey(m.ID)}, []Message{m}, s.hot.ttl, true); err != nil {
		s.m.failures.WithLabelValues("hot").Inc()
		s.log.WarnContext(ctx, "im-group: recalled message still whole in the hot tier", "id", m.ID, "err", err)
	}
}
