package notice

import (
	"context"
	"database/sql"
)

// Kinds of notice, each its own inbox and unread count.
const (
	KindSystem  = 1 // from the platform: announcements, events, account matters
	KindMention = 2 // someone wrote @name in a bullet comment
	KindLike    = 3 // people liked the user's live room (one notice per room and window)
	KindFollow  = 4 // someone followed the user (one notice per follow)
	KindReply   = 5 // someone replied to the user's bullet comment
)

// Kinds names every kind as the API spells it, in the order unread counts list them.
var Kinds = []struct {
	Kind int
	Name string
}{{KindSystem, "system"}, {KindMention, "mention"}, {KindLike, "like"}, {KindFollow, "follow"}, {KindReply, "reply"}}

// kindName is the name Kinds gives a kind ("" for none).
func kindName(kind int) string {
	for _, k := range Kinds {
		if k.Kind == kind {
			return k.Name
		}
	}
	return ""
}

// Priority lanes of a batch send.
const (
	LaneNormal = "normal"
	LaneHigh   = "high"
)

// Notice is one notice, stored once however many users receive it.
type Notice struct {
	ID       int64  `json:"id"`
	Business string `json:"business"`
	Kind     int    `json:"kind"`
	Lane     string `json:"lane"`
	Title    string `json:"title"`
	Body     string `json:"body"`
	Sender   int64  `json:"sender"`
	Ts       int64  `json:"ts"`
	// Room is the live room a mention, reply or like notice is about (0 for system and follow
	// notices).
	Room int64 `json:"room_id,omitempty"`
	// Count is how many likes a like notice holds.
	Count int64 `json:"count,omitempty"`
	// Actors are who did it: the mentioner, the replier, the follower, or a like notice's
	// latest likers, newest first.
	Actors []Actor `json:"actors,omitempty"`
	// ReplyTo is the user's comment a reply notice answers (0 for the other kinds); the reply
	// itself is the notice's body.
	ReplyTo int64 `json:"reply_to,omitempty"`
}

// Actor is a user named in an interactive notice.
type Actor struct {
	UID  int64  `json:"uid"`
	Name string `json:"name"`
}

// Recipients says who gets a batch: listed users, or every uid of a range (bounds included).
type Recipients struct {
	UIDs []int64 `json:"uids,omitempty"`
	From int64   `json:"from,omitempty"`
	To   int64   `json:"to,omitempty"`
}

// Count is how many users the recipients name.
func (r Recipients) Count() int64 {
	if len(r.UIDs) > 0 {
		return int64(len(r.UIDs))
	}
	if r.To >= r.From && r.From > 0 {
		return r.To - r.From + 1
	}
	return 0
}

// Chunk returns the users of chunk i (of size n), nil past the end.
func (r Recipients) Chunk(i, n int) []int64 {
	if len(r.UIDs) > 0 {
		lo := i * n
		if lo >= len(r.UIDs) {
			return nil
		}
		return r.UIDs[lo:min(lo+n, len(r.UIDs))]
	}
	lo := r.From + int64(i)*int64(n)
	if lo > r.To {
		return nil
	}
	hi := min(lo+int64(n)-1, r.To)
	out := make([]int64, 0, hi-lo+1)
	for u := lo; u <= hi; u++ {
		out = append(out, u)
	}
	return out
}

// Batch is a notice on its way to its recipients: Done of Total delivered so far.
type Batch struct {
	Notice
	Recipients Recipients `json:"-"`
	Total      int64      `json:"total"`
	Done       int64      `json:"done"`
	Finished   bool       `json:"finished"`
}

// Item is a notice in a user's inbox.
type Item struct {
	Notice
	Read bool `json:"read"`
}

// Store keeps notices, batches and each user's inbox of pointers.
type Store interface {
	Migrate(ctx context.Context) error
	// Create stores a notice and its batch (not started).
	Create(ctx context.Context, b Batch) error
	// Batch returns a batch with its progress (ErrNoNotice when there is none).
	Batch(ctx context.Context, id int64) (Batch, error)
	// DeliverChunk puts the notice in the inboxes of uids and counts it unread for them,
	// once: a chunk already delivered changes nothing (false).
	DeliverChunk(ctx context.Context, n Notice, chunk int, uids []int64) (bool, error)
	// Finish marks a batch delivered.
	Finish(ctx context.Context, id int64) error
	// Inbox returns up to limit of uid's notices of kind older than before (0 = newest), newest first.
	Inbox(ctx context.Context, uid int64, kind int, before int64, limit int) ([]Item, error)
	// Unread returns uid's unread counts by kind.
	Unread(ctx context.Context, uid int64) (map[int]int64, error)
	// MarkRead records that uid has read the notices of kind up to upto and recounts.
	MarkRead(ctx context.Context, uid int64, kind int, upto int64) (int64, error)
	// ForComment puts the notice n that a bullet comment gives uid — a mention or a reply — in
	// uid's inbox and counts it unread, once per comment and user: a comment seen again
	// changes nothing (false), and neither does a second notice of the same comment for the
	// same user.
	ForComment(ctx context.Context, comment, uid int64, n Notice) (bool, error)
	// Follow puts the follow notice n (from n.Sender, at n.Ts) in uid's inbox and counts it
	// unread, once per follow event and at most once per follower and UTC day: an event seen
	// again, or a follow again after an unfollow on the same day, changes nothing (false).
	Follow(ctx context.Context, event, uid int64, n Notice) (bool, error)
	// AddLikes adds the likes of l to uid's like notice of (l.Room, window) within tx,
	// creating it (in the inbox, one unread) with id newID when there is none. It returns the
	// notice as it now is and whether it was created.
	AddLikes(ctx context.Context, tx *sql.Tx, uid, window, newID int64, l LikeDelta) (Notice, bool, error)
}

// LikeDelta is what one flush adds to a like notice: Count likes, by Likers (newest first).
type LikeDelta struct {
	Room   int64
	Count  int64
	Likers []Actor
	Ts     int64 // the newest like's time, unix ms
}
