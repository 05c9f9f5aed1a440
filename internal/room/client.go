package room

import "context"

// Room is a live room with every module filled. Other components read it through Client.
type Room struct {
	ID            int64    `json:"id"`
	OwnerUID      int64    `json:"owner_uid"`
	Title         string   `json:"title"`
	Area          string   `json:"area"`
	Cover         string   `json:"cover"`
	Live          bool     `json:"live"`
	LiveStartedAt int64    `json:"live_started_at"` // unix ms, 0 when not live
	StreamKey     string   `json:"-"`
	Tags          []string `json:"tags"`
	// Off are the feature switches turned off for the room (Switches): its own and, when read
	// through Client, the global ones too.
	Off       []string `json:"off"`
	CreatedAt int64    `json:"created_at"`
	UpdatedAt int64    `json:"updated_at"`
}

// Client is what other components use of rooms. *Service implements it in-process.
type Client interface {
	// Get returns a room (ErrRoomNotFound, an apierr 404 kind, when it does not exist).
	Get(ctx context.Context, id int64) (Room, error)
	// SetTag records that the room has (on) or no longer has a business module, e.g. "gift_rank".
	SetTag(ctx context.Context, id int64, tag string, on bool) error
	// View returns a room and, from the same read, its page view for viewer (0 = guest) with
	// the base, live, anchor, stats and tags modules; a module whose source failed is nil.
	View(ctx context.Context, id, viewer int64) (Room, View, error)
	// List returns a page of the room list (live first, then by popularity) with the modules
	// its cards show: base, live, anchor and stats. cursor is the previous page's NextCursor.
	List(ctx context.Context, cursor string, limit int, viewer int64) (Page, error)
	// StreamRoom returns the id of the room whose current stream key is key (ErrBadStreamKey
	// when none: a wrong key, or one rotated away). The media component asks it on publish
	// and again while the stream lasts.
	StreamRoom(ctx context.Context, key string) (int64, error)
	// SetStreamLive sets a room live or preparing because its video started or stopped,
	// without an owner check (the media component is the caller); the room's viewers get
	// LIVE or PREPARING when the status changes. Idempotent.
	SetStreamLive(ctx context.Context, id int64, on bool) error
	// ConfirmStreams tells room that the media process node still publishes the rooms ids, or
	// waits out their offline grace. A room live by its video that no confirmation (nor a
	// publish start) renewed for room.live_timeout is set preparing, so the rooms of a media
	// process that died without ending its streams do not stay live. Rooms among ids that are
	// not live by their video (preparing, or switched live by hand) are left as they are.
	ConfirmStreams(ctx context.Context, node string, ids []int64) error
}
