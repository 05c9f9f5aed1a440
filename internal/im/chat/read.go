package chat

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
)

// ConversationView is a conversation as a client lists it: with the peer's name and the last
// message (blank when recalled).
type ConversationView struct {
	Conversation
	PeerName string   `json:"peer_name"`
	Last     *Message `json:"last,omitempty"`
}

// Page is a page of a conversation list; Next continues it ("" at the end).
type Page struct {
	Items []ConversationView `json:"items"`
	Next  string             `json:"next"`
	// Source is where the page was read: "hot" (the Redis tier, which may trail the store by
	// the change stream's delay) or "store".
	Source string `json:"source"`
}

// ParseCursor reads a Page's Next ("" is the top of the list).
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	a, b, ok := strings.Cut(s, "_")
	mt, err1 := strconv.ParseInt(a, 10, 64)
	peer, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || mt <= 0 || peer <= 0 {
		return Cursor{}, ErrBadInput.Withf("cursor %q is not one this API gave", s)
	}
	return Cursor{Mtime: mt, Peer: peer}, nil
}

func (c Cursor) String() string {
	return strconv.FormatInt(c.Mtime, 10) + "_" + strconv.FormatInt(c.Peer, 10)
}

// ParseFolder reads a folder name: "" or "all" every conversation, "main" those the user
// wrote in, "strangers" the others.
func ParseFolder(v string) (int, error) {
	switch v {
	case "", "all":
		return FolderAll, nil
	case "main":
		return FolderMain, nil
	case "strangers":
		return FolderStrangers, nil
	}
	return 0, ErrBadInput.Withf(`folder must be "all", "main" or "strangers"`)
}

// Conversations is a page of uid's conversation list in folder, newest first: a keyset page of
// limit rows, their last messages and the peers' names, whatever the number of conversations.
// The hot tier answers the whole list; a folder's is read from the store.
func (s *Service) Conversations(ctx context.Context, uid int64, folder int, cursor string, limit int) (Page, error) {
	c, err := ParseCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	limit = clampPage(limit)
	store := func() ([]Conversation, error) { return s.store.Conversations(ctx, uid, folder, c, limit) }
	var convs []Conversation
	source := sourceStore
	if folder == FolderAll {
		convs, source, err = readThrough(s, ctx, uid, func(ctx context.Context) ([]Conversation, error) { return s.hot.page(ctx, uid, c, limit) }, store)
	} else {
		convs, err = store()
	}
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: make([]ConversationView, len(convs)), Source: source}
	if len(convs) == 0 {
		return page, nil
	}
	lastIDs := make([]int64, len(convs))
	peers := make([]int64, len(convs))
	for i, cv := range convs {
		lastIDs[i], peers[i] = cv.LastID, cv.Peer
	}
	msgs, err := s.messages(ctx, lastIDs)
	if err != nil {
		return Page{}, err
	}
	names, err := s.accounts.Names(ctx, peers)
	if err != nil {
		s.log.WarnContext(ctx, "im-chat: peer names unavailable", "err", err) // the list still shows
	}
	for i, cv := range convs {
		page.Items[i] = ConversationView{Conversation: cv, PeerName: names[cv.Peer]}
		if m, ok := msgs[cv.LastID]; ok {
			page.Items[i].Last = &m
		}
	}
	if len(convs) == limit {
		last := convs[len(convs)-1]
		page.Next = Cursor{Mtime: last.Mtime, Peer: last.Peer}.String()
	}
	return page, nil
}

// messages returns the messages of ids: from the hot tier what it holds, the rest from the store.
func (s *Service) messages(ctx context.Context, ids []int64) (map[int64]Message, error) {
	got := map[int64]Message{}
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		var err error
		if got, err = s.hot.messages(hctx, ids); err != nil {
			s.m.failures.WithLabelValues("hot").Inc()
			got = map[int64]Message{}
		}
		cancel()
	}
	var missing []int64
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return got, nil
	}
	rest, err := s.store.Messages(ctx, missing)
	if err != nil {
		return nil, err
	}
	for id, m := range rest {
		got[id] = m
	}
	return got, nil
}

func clampPage(limit int) int {
	if limit <= 0 {
		return 20
	}
	return min(limit, maxPageLimit)
}

// Chat is a page of one conversation's history, newest first, with the peer's read position
// (every message of uid up to PeerReadID is read: read receipts).
type Chat struct {
	Peer       int64     `json:"peer"`
	PeerName   string    `json:"peer_name"`
	PeerReadID int64     `json:"peer_read_id"`
	Items      []Message `json:"items"`
	// Source is where the page was read: "hot" (the tier, which may trail the store by the
	// change stream's delay) or "store".
	Source string `json:"source"`
}

// History returns up to limit messages of uid's chat with peer older than before (0 = newest):
// from the hot tier when its timeline holds the whole page, else from the store.
func (s *Service) History(ctx context.Context, uid, peer, before int64, limit int) (Chat, error) {
	if peer <= 0 {
		return Chat{}, ErrBadInput.Withf("peer must be a user id")
	}
	limit = clampPage(limit)
	msgs, source, err := readThrough(s, ctx, uid, func(hctx context.Context) ([]Message, error) {
		ids, err := s.hot.history(hctx, uid, peer, before, limit)
		if err != nil {
			return nil, err
		}
		return s.timeline(ctx, hctx, ids)
	}, func() ([]Message, error) { return s.store.History(ctx, uid, peer, before, limit) })
	if err != nil {
		return Chat{}, err
	}
	out := Chat{Peer: peer, Items: msgs, Source: source}
	if out.Items == nil {
		out.Items = []Message{}
	}
	theirs, ok, err := s.peerConversation(ctx, peer, uid)
	if err != nil {
		return Chat{}, err
	}
	if ok {
		out.PeerReadID = theirs.ReadID
	}
	if names, err := s.accounts.Names(ctx, []int64{peer}); err == nil {
		out.PeerName = names[peer]
	}
	return out, nil
}

// peerConversation is uid's conversation with peer (false: none), from the hot tier when it
// holds uid, else from the store. It does not put uid in the tier: uid is not the reader.
func (s *Service) peerConversation(ctx context.Context, uid, peer int64) (Conversation, bool, error) {
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		c, ok, err := s.hot.conversation(hctx, uid, peer)
		cancel()
		if err == nil {
			return c, ok, nil
		}
		if !errors.Is(err, errCold) {
			s.m.failures.WithLabelValues("hot").Inc()
		}
	}
	return s.store.Conversation(ctx, uid, peer)
}

// timeline returns the messages of the tier's ids in their order: the content the tier holds
// (read within hctx), the rest from the store (within ctx). An id whose message is gone from
// the store too (a retention dropped it) is left out, as the store's own reads leave it.
func (s *Service) timeline(ctx, hctx context.Context, ids []int64) ([]Message, error) {
	got, err := s.hot.messages(hctx, ids)
	if err != nil {
		s.m.failures.WithLabelValues("hot").Inc()
		got = map[int64]Message{}
	}
	var missing []int64
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		rest, err := s.store.Messages(ctx, missing)
		if err != nil {
			return nil, err
		}
		maps.Copy(got, rest)
	}
	out := make([]Message, 0, len(ids))
	for _, id := range ids {
		if m, ok := got[id]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// Synced is a page of a sync: the messages, oldest first, and where they were read.
type Synced struct {
	Items  []Message `json:"items"`
	Source string    `json:"source"`
}

// Sync returns up to limit messages of every chat of uid newer than after, oldest first: what
// a client missed; it asks again from the last id until it gets fewer than limit. The hot
// tier answers when its timeline holds every entry after after.
func (s *Service) Sync(ctx context.Context, uid, after int64, limit int) (Synced, error) {
	if after < 0 {
		return Synced{}, ErrBadInput.Withf("after must be a message id")
	}
	limit = clampPage(limit)
	msgs, source, err := readThrough(s, ctx, uid, func(hctx context.Context) ([]Message, error) {
		ids, err := s.hot.since(hctx, uid, after, limit)
		if err != nil {
			return nil, err
		}
		return s.timeline(ctx, hctx, ids)
	}, func() ([]Message, error) { return s.store.Since(ctx, uid, after, limit) })
	if msgs == nil {
		msgs = []Message{}
	}
	return Synced{Items: msgs, Source: source}, err
}

// Unread is uid's unread total (the badge).
func (s *Service) Unread(ctx context.Context, uid int64) (int64, error) {
	return s.store.Unread(ctx, uid)
}

// MarkRead records that uid has read peer's messages up to upto and tells both sides (the
// peer's read receipt, uid's other devices) with IM_READ.
func (s *Service) MarkRead(ctx context.Context, uid, peer, upto int64) (Conversation, error) {
	if peer <= 0 || upto <= 0 {
		return Conversation{}, ErrBadInput.Withf("peer and read_id must be ids")
	}
	c, err := s.store.MarkRead(ctx, uid, peer, upto)
	if err != nil {
		return Conversation{}, err
	}
	if c.Changed {
		s.changed(ctx, c)
		s.notify(ctx, []int64{peer, uid}, "IM_READ", map[string]int64{"uid": uid, "peer": peer, "read_id": c.Conv.ReadID})
	}
	return c.Conv.Conversation, nil
}

// changed puts a read's or a mute's states on the change stream. A failure leaves the hot
// tier behind until the conversation's next change or the user's next warm; it is counted,
// and the write itself stands.
func (s *Service) changed(ctx context.Context, c Change) {
	if err := s.publishChange(context.WithoutCancel(ctx), change{Convs: []ConvState{c.Conv}, Totals: []Total{c.Total}}); err != nil {
		s.m.failures.WithLabelValues("hot").Inc()
		s.log.WarnContext(ctx, "im-chat: change event not published", "uid", c.Conv.UID, "err", err)
	}
}

// Recall blanks a message uid sent within the recall window and tells both sides with IM_RECALL.
func (s *Service) Recall(ctx context.Context, uid, id int64) (Message, error) {
	if s.cfg.RecallWindow == 0 {
		return Message{}, ErrRecallLate.Withf("recalling messages is switched off")
	}
	m, err := s.store.Recall(ctx, uid, id, s.now().Add(-s.cfg.RecallWindow).UnixMilli())
	if err != nil {
		return Message{}, err
	}
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		if err := s.hot.recalled(hctx, m); err != nil {
			s.m.failures.WithLabelValues("hot").Inc()
		}
		cancel()
	}
	s.notify(ctx, []int64{m.To, m.From}, "IM_RECALL", map[string]int64{"id": m.ID, "from": m.From, "to": m.To})
	return m, nil
}

// Delete removes a message from uid's side only.
func (s *Service) Delete(ctx context.Context, uid, id int64) error {
	if err := s.store.Delete(ctx, uid, id); err != nil {
		return err
	}
	if s.hot != nil {
		hctx, cancel := s.shared.Bound(ctx)
		defer cancel()
		if err := s.hot.dropEntry(hctx, uid, id); err != nil {
			// The tier keeps showing it to uid's syncs and histories until uid's timeline leaves
			// the tier (hot_ttl after its last change) or is built again; counted and logged.
			s.m.failures.WithLabelValues("hot").Inc()
			s.log.WarnContext(ctx, "im-chat: deleted message still in the hot tier", "uid", uid, "id", id, "err", err)
		}
	}
	return nil
}

// SetMuted mutes or unmutes uid's conversation with peer: a muted conversation is not
// disturbing — its messages still arrive and count in its own unread, not in the badge.
func (s *Service) SetMuted(ctx context.Context, uid, peer int64, muted bool) error {
	c, err := s.store.SetMuted(ctx, uid, peer, muted)
	if err == nil && c.Changed {
		s.changed(ctx, c)
	}
	return err
}

// Block stops other from messaging uid.
func (s *Service) Block(ctx context.Context, uid, other int64) error {
	switch {
	case other <= 0:
		return ErrBadInput.Withf("uid must be a user id")
	case other == uid:
		return ErrSelf.Withf("you cannot block yourself")
	}
	if err := s.userExists(ctx, other); err != nil {
		return err
	}
	return s.store.Block(ctx, uid, other, s.now().UnixMilli())
}

// Unblock lets other message uid again.
func (s *Service) Unblock(ctx context.Context, uid, other int64) error {
	ok, err := s.store.Unblock(ctx, uid, other)
	if err == nil && !ok {
		return apiNotBlocked(other)
	}
	return err
}

func apiNotBlocked(uid int64) error { return ErrUserNotFound.Withf("user %d is not blocked", uid) }

// Blocks lists the users uid blocked, most recent first.
func (s *Service) Blocks(ctx context.Context, uid int64, limit int) ([]int64, error) {
	return s.store.Blocks(ctx, uid, clampPage(limit))
}

// Settings returns uid's settings.
func (s *Service) Settings(ctx context.Context, uid int64) (Settings, error) {
	return s.store.Settings(ctx, uid)
}

// SetSettings stores uid's settings, replacing the ones before whole; nothing is stored when
// any part is refused.
func (s *Service) SetSettings(ctx context.Context, uid int64, st Settings) error {
	if st.Allow != AllowEveryone && st.Allow != AllowFollowers && st.Allow != AllowNobody {
		return ErrBadInput.Withf("allow must be %d (everyone), %d (followers) or %d (nobody)", AllowEveryone, AllowFollowers, AllowNobody)
	}
	if err := st.DND.validate(); err != nil {
		return err
	}
	return s.store.SetSettings(ctx, uid, st)
}
