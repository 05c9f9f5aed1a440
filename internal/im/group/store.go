package group

import "context"

// Group is a group chat. LastID and Mtime are of its newest message (0 before the first).
type Group struct {
	ID        int64  `json:"id"`
	Owner     int64  `json:"owner"`
	Name      string `json:"name"`
	Members   int    `json:"members"`
	CreatedAt int64  `json:"created_at"`
	LastID    int64  `json:"last_id"`
	Mtime     int64  `json:"mtime"`
}

// Member is one user's membership: role, when they joined (JoinedID, a message id: they see
// the messages after it) and how far they have read (read diffusion: the group's timeline is
// one, each member keeps a position in it).
type Member struct {
	GroupID  int64 `json:"group_id"`
	UID      int64 `json:"uid"`
	Role     int   `json:"role"`
	JoinedID int64 `json:"joined_id"`
	ReadID   int64 `json:"read_id"`
	Muted    bool  `json:"muted"`
}

// Roles of a member.
const (
	RoleMember = 0
	RoleOwner  = 2
)

// Message is one message of a group, stored once for every member.
type Message struct {
	ID       int64  `json:"id"`
	GroupID  int64  `json:"group_id"`
	From     int64  `json:"from"`
	Text     string `json:"text"`
	ClientID string `json:"client_id,omitempty"`
	Ts       int64  `json:"ts"`
	Recalled bool   `json:"recalled,omitempty"`
}

// SendCheck is what a send reads of the store: the sender's membership (IsMember false: not a
// member, or no such group) and the message its client id names, if one is stored.
type SendCheck struct {
	Member   Member
	IsMember bool
	SentID   int64
}

// Store keeps groups, members and the groups' timelines.
type Store interface {
	Migrate(ctx context.Context) error
	// Create stores a group with its owner and members (owner included once).
	Create(ctx context.Context, g Group, members []int64, joinedID int64) error
	// Group returns a group (ErrNoGroup when there is none).
	Group(ctx context.Context, id int64) (Group, error)
	// Member returns uid's membership of group (false when not a member).
	Member(ctx context.Context, group, uid int64) (Member, bool, error)
	// Members returns up to limit members of group after uid `after`, by uid.
	Members(ctx context.Context, group, after int64, limit int) ([]Member, error)
	// AddMembers adds users (those already in are left as they are) up to max members in all;
	// it returns how many joined, ErrGroupFull when they would not fit.
	AddMembers(ctx context.Context, group int64, uids []int64, joinedID int64, max int) (int, error)
	// RemoveMember removes uid (false when not a member).
	RemoveMember(ctx context.Context, group, uid int64) (bool, error)
	// Apply stores accepted messages in their groups' timelines and moves each group to its
	// newest; messages already stored (by id, or by sender and client id) are skipped.
	Apply(ctx context.Context, msgs []Message) (int, error)
	// CheckSend reads, in one read, what a send of uid to group checks: uid's membership and,
	// for a non-empty clientID, the message uid sent with it before (SentID 0 = none).
	CheckSend(ctx context.Context, group, uid int64, clientID string) (SendCheck, error)
	// Message returns a stored message (false when there is none).
	Message(ctx context.Context, id int64) (Message, bool, error)
	// Messages returns the stored messages among ids.
	Messages(ctx context.Context, ids []int64) (map[int64]Message, error)
	// Recent returns group's newest limit messages, newest first, read from the primary: what
	// the hot tier builds a group's list from.
	Recent(ctx context.Context, group int64, limit int) ([]Message, error)
	// History returns up to limit messages of group newer than after and older than before (0 =
	// the newest), newest first.
	History(ctx context.Context, group, after, before int64, limit int) ([]Message, error)
	// Unread counts the messages of group after readID not sent by uid, at most max.
	Unread(ctx context.Context, group, uid, readID int64, max int) (int, error)
	// Groups returns up to limit of uid's memberships with their groups, the group with the
	// newest message first, after the group g (0 = from the top) of mtime m.
	Groups(ctx context.Context, uid, m, g int64, limit int) ([]Member, []Group, error)
	// MarkRead moves uid's read position in group forward to upto (capped at the newest).
	MarkRead(ctx context.Context, group, uid, upto int64) (Member, error)
	// Recall blanks message id of group sent by uid at or after notBefore (unix ms).
	Recall(ctx context.Context, uid, id, notBefore int64) (Message, error)
}
