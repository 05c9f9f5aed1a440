package chat

import "context"

// Message is one private message, stored once whoever reads it. ID is a Snowflake id (pkg/ids),
// so ordering by id is ordering by time; Ts is when it was accepted, unix milliseconds.
type Message struct {
	ID       int64  `json:"id"`
	From     int64  `json:"from"`
	To       int64  `json:"to"`
	Text     string `json:"text"`
	ClientID string `json:"client_id,omitempty"`
	Ts       int64  `json:"ts"`
	Recalled bool   `json:"recalled,omitempty"`
}

// Conversation is one user's side of a chat with Peer: what the conversation list shows.
type Conversation struct {
	Peer   int64 `json:"peer"`
	LastID int64 `json:"last_id"` // the newest message either side sent
	Mtime  int64 `json:"mtime"`   // unix ms of that message: the list is ordered by it
	Unread int64 `json:"unread"`  // messages from Peer after ReadID
	ReadID int64 `json:"read_id"` // the newest message of Peer this user has read
	Muted  bool  `json:"muted"`   // no notification for new messages (they still count as unread)
	// Stranger: the user has never written in this conversation (the strangers folder); a
	// reply moves it to the main folder for good.
	Stranger bool `json:"stranger"`
}

// Folders of a conversation list.
const (
	FolderAll       = -1
	FolderMain      = 0
	FolderStrangers = 1
)

// ConvState is a conversation row of UID with its version, which every change counts up.
type ConvState struct {
	UID int64 `json:"uid"`
	Conversation
	Version int64 `json:"v"`
}

// Total is a user's unread total with its version.
type Total struct {
	UID     int64 `json:"uid"`
	Total   int64 `json:"total"`
	Version int64 `json:"v"`
}

// Applied is what a batch of messages did: how many were new.
type Applied struct {
	Stored int
}

// Change is one conversation's state and its user's total after a read or a mute; Changed is
// false when nothing changed.
type Change struct {
	Conv    ConvState
	Total   Total
	Changed bool
}

// Cursor is a position in a user's conversation list, newest first: the list continues with
// the conversations ordered after (Mtime, Peer). The zero Cursor is the top of the list.
type Cursor struct {
	Mtime int64
	Peer  int64
}

// Settings are who may message a user and when their clients keep quiet. They are stored and
// replaced as a whole: a PUT without "dnd" switches the hours off and forgets them.
type Settings struct {
	// Allow is AllowEveryone, AllowFollowers or AllowNobody (the zero value allows everyone).
	Allow int `json:"allow"`
	// DND is the user's do-not-disturb hours (the zero value: off, no hours).
	DND DND `json:"dnd"`
}

// SendCheck is what a send reads of the store: whether the sender's client id names a message
// stored before (a replay), whether the receiver blocked the sender, the receiver's settings
// and whether the receiver has written to the sender.
type SendCheck struct {
	SentID  int64 // the stored message of the client id; 0 = none
	Blocked bool
	// Settings holds the receiver's Allow only: do-not-disturb hours change nothing of what
	// is accepted, so the send does not read them.
	Settings Settings
	// Wrote: the receiver has written in their conversation with the sender (it is in their
	// main folder), so the sender may answer under AllowFollowers.
	Wrote bool
}

// Who may message a user (Settings.Allow). AllowFollowers admits the users who follow the
// receiver — and, so that the receiver's own conversations keep working, the users the
// receiver follows and those the receiver has written to.
const (
	AllowEveryone  = 0
	AllowFollowers = 1
	AllowNobody    = 2
)

// Store keeps messages, each user's timeline and conversations, unread counts and settings.
// Reads of a conversation list are keyset pages: none loads all of a user's conversations.
type Store interface {
	// Migrate creates or upgrades the tables.
	Migrate(ctx context.Context) error
	// Apply stores accepted messages: the content once, an entry in the timelines of both
	// sides, both sides' conversation rows and the receiver's unread counts. Messages already
	// stored (by id, or by sender and client id) are skipped, so applying a batch again, or
	// one that overlaps an earlier one, changes nothing twice. It returns how many it stored.
	Apply(ctx context.Context, msgs []Message) (Applied, error)
	// States returns the conversations and totals msgs touch, as they are now.
	States(ctx context.Context, msgs []Message) ([]ConvState, []Total, error)
	// CheckSend reads, in one read, what a send from from to to checks (see SendCheck);
	// clientID "" asks for no replay.
	CheckSend(ctx context.Context, from, to int64, clientID string) (SendCheck, error)
	// Conversations returns up to limit of uid's conversations in folder (FolderAll = every
	// one) after c, newest first. It, History
	// and Since may be served by the read replica (a list that lags by the replica's delay).
	Conversations(ctx context.Context, uid int64, folder int, c Cursor, limit int) ([]Conversation, error)
	// Conversation returns uid's conversation with peer (false when there is none).
	Conversation(ctx context.Context, uid, peer int64) (Conversation, bool, error)
	// Messages returns the stored messages among ids (from the primary: point reads).
	Messages(ctx context.Context, ids []int64) (map[int64]Message, error)
	// History returns up to limit messages of uid's chat with peer older than before (0 = the
	// newest), newest first, without those uid deleted for themself.
	History(ctx context.Context, uid, peer, before int64, limit int) ([]Message, error)
	// Since returns up to limit messages of every chat of uid newer than after, oldest first,
	// without those uid deleted: what a client missed while offline.
	Since(ctx context.Context, uid, after int64, limit int) ([]Message, error)
	// Unread is uid's unread total over every conversation not muted, kept as one row (O(1)).
	Unread(ctx context.Context, uid int64) (int64, error)
	// MarkRead records that uid has read peer's messages up to upto (capped at the newest),
	// recounts that conversation's unread messages and the total, and returns them.
	// ErrNoConversation when there is none; an older upto changes nothing (Changed false).
	MarkRead(ctx context.Context, uid, peer, upto int64) (Change, error)
	// Recall blanks message id sent by uid, if it was accepted at or after notBefore (unix
	// ms), and returns it. ErrNoMessage when uid sent no such message, ErrRecallLate when it
	// is older; recalling it again returns it unchanged.
	Recall(ctx context.Context, uid, id, notBefore int64) (Message, error)
	// Delete removes message id from uid's timeline only (delete for me); ErrNoMessage when it
	// is not in uid's timeline.
	Delete(ctx context.Context, uid, id int64) error
	// SetMuted mutes or unmutes uid's conversation with peer; ErrNoConversation when there is
	// none, Changed false when it already was. A muted conversation's unread messages are not in
	// uid's total (the badge): muting takes them out, unmuting puts them back, and while muted
	// new messages and reads change only the conversation's own count.
	SetMuted(ctx context.Context, uid, peer int64, muted bool) (Change, error)
	// Warm returns uid's newest limit conversations with their versions, and uid's total:
	// what the hot tier is built from.
	Warm(ctx context.Context, uid int64, limit int) ([]ConvState, Total, error)
	// Recent returns uid's newest limit timeline entries (not those uid deleted), newest
	// first, read from the primary: what the hot tier's timeline is built from.
	Recent(ctx context.Context, uid int64, limit int) ([]Entry, error)
	// AtLeast reports whether uid has at least n conversations, counting no further.
	AtLeast(ctx context.Context, uid int64, n int) (bool, error)
	// Block stops blocked from messaging uid; Unblock lets them again (false when there was no block).
	Block(ctx context.Context, uid, blocked int64, at int64) error
	Unblock(ctx context.Context, uid, blocked int64) (bool, error)
	// Blocks returns up to limit users uid blocked, most recent first.
	Blocks(ctx context.Context, uid int64, limit int) ([]int64, error)
	// Assign returns the agent of service's pool that answers uid: the one assigned before if
	// still in agents, else the least loaded of prefer (of agents when prefer is empty; the
	// first listed on a tie), assigned now, at. prefer is a subset of agents (the connected).
	Assign(ctx context.Context, service, uid int64, agents, prefer []int64, at int64) (int64, error)
	// Reassign makes agent answer uid's conversation with service from now (at) and returns
	// the agent who answered it before (0 = none). A conversation service does not have is
	// ErrNoConversation, and nothing changes.
	Reassign(ctx context.Context, service, uid, agent, at int64) (int64, error)
	// Assignments returns the agents assigned to uids of service.
	Assignments(ctx context.Context, service int64, uids []int64) (map[int64]int64, error)
	// Settings returns uid's settings (the defaults when never set); SetSettings stores them.
	Settings(ctx context.Context, uid int64) (Settings, error)
	SetSettings(ctx context.Context, uid int64, s Settings) error
}
