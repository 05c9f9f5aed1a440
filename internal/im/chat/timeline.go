package chat

import (
	"context"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/im/hotlist"
)

// The timeline tier: each user's newest hot_timeline entries of their timeline (a message id
// and the peer) in Redis, a list of the hot tier's (package hotlist) under the user's hash tag
// like the conversations' (im:{uid}:t, tf, tp, td), so a chat's history and a client's sync
// are answered from memory while they fall within it. The entries come from the change stream
// (the store writer publishes each batch's) and from warming, which builds the list from the
// store's newest entries; a user's list is written only while held or being built.

// Entry is one entry of a user's timeline.
type Entry struct {
	UID  int64 `json:"u"`
	ID   int64 `json:"i"`
	Peer int64 `json:"p"`
}

// entries returns the timeline entries msgs give: one in each side's timeline.
func entries(msgs []Message) []Entry {
	out := make([]Entry, 0, 2*len(msgs))
	for _, m := range msgs {
		out = append(out, Entry{UID: m.From, ID: m.ID, Peer: m.To}, Entry{UID: m.To, ID: m.ID, Peer: m.From})
	}
	return out
}

// timelineBase is the base of uid's list keys.
func (h *hotTier) timelineBase(uid int64) string {
	return h.prefix + "im:{" + strconv.FormatInt(uid, 10) + "}:"
}

// addEntries writes entries of users whose timeline the tier holds or builds.
func (h *hotTier) addEntries(ctx context.Context, es []Entry) error {
	byUser := map[string][]hotlist.Item{}
	for _, e := range es {
		b := h.timelineBase(e.UID)
		byUser[b] = append(byUser[b], hotlist.Item{ID: e.ID, Tag: e.Peer})
	}
	return h.timeline.Add(ctx, byUser, false)
}

// warmTimeline builds uid's timeline in the tier from the store's newest entries.
func (h *hotTier) warmTimeline(ctx context.Context, store Store, uid int64) error {
	return h.timeline.Build(ctx, h.timelineBase(uid), func(ctx context.Context, limit int) ([]hotlist.Item, error) {
		es, err := store.Recent(ctx, uid, limit)
		items := make([]hotlist.Item, len(es))
		for i, e := range es {
			items[i] = hotlist.Item{ID: e.ID, Tag: e.Peer}
		}
		return items, err
	})
}

// dropEntry takes id out of uid's timeline (a delete for uid only).
func (h *hotTier) dropEntry(ctx context.Context, uid, id int64) error {
	return h.timeline.Drop(ctx, h.timelineBase(uid), id)
}

// since returns the ids of up to limit entries of uid after after, oldest first, or errCold
// or errDeep.
func (h *hotTier) since(ctx context.Context, uid, after int64, limit int) ([]int64, error) {
	return h.timeline.Since(ctx, h.timelineBase(uid), after, limit)
}

// history returns the ids of up to limit entries of uid's chat with peer before before (0 = the
// newest), newest first, or errCold or errDeep.
func (h *hotTier) history(ctx context.Context, uid, peer, before int64, limit int) ([]int64, error) {
	return h.timeline.Before(ctx, h.timelineBase(uid), peer, 0, before, limit)
}
