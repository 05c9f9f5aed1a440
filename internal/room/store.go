package room

import "context"

// Patch holds the fields an update changes (nil = unchanged).
type Patch struct {
	Title *string
	Area  *string
	Cover *string
}

// Cursor is a position in the list order: live first, then popularity, then newest id.
type Cursor struct {
	Live       bool
	Popularity int64
	ID         int64
}

// Listed is a room in the list with the popularity it was sorted by.
type Listed struct {
	Room
	Popularity int64
}

// Store keeps rooms.
type Store interface {
	// Create inserts a room unless owner already has max rooms (ErrRoomLimit).
	Create(ctx context.Context, r Room, max int) (Room, error)
	Get(ctx context.Context, id int64) (Room, error)
	ByOwner(ctx context.Context, owner int64) (Room, error)
	Update(ctx context.Context, id int64, p Patch, now int64) (Room, error)
	// SetLive switches live status at now (also the start time when going live); stream says
	// the video set it live, so it counts as confirmed now (else it is live by the manual
	// switch, which nothing expires). Going preparing forgets any confirmation.
	SetLive(ctx context.Context, id int64, live, stream bool, now int64) (Room, error)
	// StreamLive marks a room already live as live by its video, confirmed at now (a publish
	// started in a room switched live by hand: the latest change wins).
	StreamLive(ctx context.Context, id int64, now int64) error
	// ConfirmStreams records that node still publishes (or waits out the grace of) the rooms
	// ids; only rooms live by their video are touched.
	ConfirmStreams(ctx context.Context, node string, ids []int64, now int64) error
	// StaleStreams lists the rooms live by their video last confirmed before before.
	StaleStreams(ctx context.Context, before int64) ([]StaleStream, error)
	// ExpireStream sets the room preparing if it is still live by its video and still last
	// confirmed before before, and reports whether it did.
	ExpireStream(ctx context.Context, id, before, now int64) (bool, error)
	SetStreamKey(ctx context.Context, id int64, key string, now int64) (Room, error)
	// ByStreamKey returns the id of the room whose stream key is key, or ErrRoomNotFound.
	ByStreamKey(ctx context.Context, key string) (int64, error)
	SetTags(ctx context.Context, id int64, tags []string, now int64) error
	// List returns up to limit rooms after cursor (nil = from the start).
	List(ctx context.Context, after *Cursor, limit int) ([]Listed, error)
	LiveIDs(ctx context.Context) ([]int64, error)
	SetPopularity(ctx context.Context, pop map[int64]int64) error
	// Likes returns the like totals of the rooms among ids that have any.
	Likes(ctx context.Context, ids []int64) (map[int64]int64, error)
	// SetCover stores the room's uploaded cover and sets its cover field to path.
	SetCover(ctx context.Context, id int64, c Cover, path string) (Room, error)
	// Cover returns the room's uploaded cover, or ErrNoCover.
	Cover(ctx context.Context, id int64) (Cover, error)
	// SetSwitches replaces the room's own switched-off modules.
	SetSwitches(ctx context.Context, id int64, off []string, now int64) (Room, error)
	// GlobalSwitches returns the modules switched off in every room.
	GlobalSwitches(ctx context.Context) ([]string, error)
	// SetGlobalSwitches replaces the modules switched off in every room.
	SetGlobalSwitches(ctx context.Context, off []string, now int64) error
	// DeleteCover removes the room's uploaded cover, if any.
	DeleteCover(ctx context.Context, id int64) error
}
