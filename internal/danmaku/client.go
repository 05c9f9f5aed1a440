package danmaku

import "context"

// Client is what other components (the BFF, the gRPC adapter) use of danmaku. *Service
// implements it in-process.
type Client interface {
	// Send validates, filters and stores a comment by uid in roomID, pushes it to the room and
	// returns its id. color 0 means white and mode 0 means scroll; replyTo, when not 0, is the
	// earlier comment of the room it answers. Errors are apierr kinds: ErrBadInput or ErrBanned
	// (400), ErrMuted (403), the room's 404, ErrReplyNotFound (404), ErrReplyOtherRoom or
	// ErrReplyTooOld (400), ErrRateLimited (429).
	Send(ctx context.Context, roomID, uid int64, text string, color, mode int, replyTo int64) (int64, error)
	// History returns a room's most recent comments, oldest first: at most limit, and at
	// most the configured history size (limit <= 0 means that size). An unknown room has none.
	History(ctx context.Context, roomID int64, limit int) ([]Comment, error)
	// IsMuted reports whether uid is muted in roomID (it does not read the room).
	IsMuted(ctx context.Context, roomID, uid int64) (bool, error)
}

var _ Client = (*Service)(nil)
