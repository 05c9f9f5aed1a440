package danmaku

import "context"

// Comment is one stored bullet comment. Ts is when it was accepted, unix milliseconds.
type Comment struct {
	ID     int64  `json:"id"`
	RoomID int64  `json:"-"`
	UID    int64  `json:"uid"`
	Uname  string `json:"uname"`
	Text   string `json:"text"`
	Color  int    `json:"color"`
	Mode   int    `json:"mode"`
	Ts     int64  `json:"ts"`
	// ReplyTo is the earlier comment of the same room this one answers (0: none); ReplyUID
	// and ReplyUname are that comment's sender as it was stored, so that a client shows
	// "reply to @name" without asking anyone.
	ReplyTo    int64  `json:"reply_to,omitempty"`
	ReplyUID   int64  `json:"reply_uid,omitempty"`
	ReplyUname string `json:"reply_uname,omitempty"`
}

// Mute records that ByUID stopped UID from sending comments in RoomID at Since (unix ms).
type Mute struct {
	RoomID int64
	UID    int64
	ByUID  int64
	Since  int64
}

// Store keeps comments and mutes.
type Store interface {
	// Migrate creates or upgrades the tables.
	Migrate(ctx context.Context) error
	// InsertComment stores c; its ID is new.
	InsertComment(ctx context.Context, c Comment) error
	// Comment returns the comment with this id, false when there is none.
	Comment(ctx context.Context, id int64) (Comment, bool, error)
	// Unpushed returns comments stored before beforeMs whose DANMU_MSG is not known to be on
	// the queue, oldest first, at most limit.
	Unpushed(ctx context.Context, beforeMs int64, limit int) ([]Comment, error)
	// MarkPushed records that these comments' DANMU_MSG is on the queue.
	MarkPushed(ctx context.Context, ids []int64) error
	// Recent returns the last limit comments of a room, oldest first.
	Recent(ctx context.Context, roomID int64, limit int) ([]Comment, error)
	// Mute records m unless the user is already muted in the room; either way it returns the
	// mute in force (the first one, with its original Since and ByUID).
	Mute(ctx context.Context, m Mute) (Mute, error)
	// Unmute lifts a mute and reports whether there was one.
	Unmute(ctx context.Context, roomID, uid int64) (bool, error)
	// IsMuted reports whether uid is muted in the room.
	IsMuted(ctx context.Context, roomID, uid int64) (bool, error)
	// MutedUIDs returns every user muted in the room, in no order.
	MutedUIDs(ctx context.Context, roomID int64) ([]int64, error)
	// Mutes returns up to limit mutes of a room, newest first.
	Mutes(ctx context.Context, roomID int64, limit int) ([]Mute, error)
}
