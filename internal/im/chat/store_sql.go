package chat

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// Migrations are the tables of private messages, for zhibo migrate.
//
// Single chat is write diffusion: a message's content is stored once (im_messages), and each
// side gets a timeline entry (im_timeline: (uid, msg_id) for a client's sync, (uid, peer,
// msg_id) for a chat's history) and a conversation row (im_conversations, listed by (uid,
// mtime, peer) in keyset pages). im_unread keeps each user's unread total in one row, so the
// badge is one point read. im_sends maps a sender's client message id to the message, so a
// replayed send is one message.
func Migrations() []sqlstore.Migration {
	return []sqlstore.Migration{
		{Version: 1, Name: "single chat",
			SQLite: `CREATE TABLE im_messages (
	id BIGINT NOT NULL PRIMARY KEY,
	sender BIGINT NOT NULL,
	receiver BIGINT NOT NULL,
	body TEXT NOT NULL,
	client_id VARCHAR(64) NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	recalled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE im_sends (
	sender BIGINT NOT NULL,
	client_id VARCHAR(64) NOT NULL,
	msg_id BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (sender, client_id));
CREATE TABLE im_timeline (
	uid BIGINT NOT NULL,
	msg_id BIGINT NOT NULL,
	peer BIGINT NOT NULL,
	outgoing INTEGER NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, msg_id));
CREATE INDEX im_timeline_chat ON im_timeline (uid, peer, msg_id);
CREATE TABLE im_conversations (
	uid BIGINT NOT NULL,
	peer BIGINT NOT NULL,
	last_id BIGINT NOT NULL,
	mtime BIGINT NOT NULL,
	unread BIGINT NOT NULL DEFAULT 0,
	read_id BIGINT NOT NULL DEFAULT 0,
	muted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, peer));
CREATE INDEX im_conversations_list ON im_conversations (uid, mtime, peer);
CREATE TABLE im_unread (
	uid BIGINT NOT NULL PRIMARY KEY,
	total BIGINT NOT NULL);
CREATE TABLE im_blocks (
	uid BIGINT NOT NULL,
	blocked BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (uid, blocked));
CREATE INDEX im_blocks_recent ON im_blocks (uid, created_at);
CREATE TABLE im_settings (
	uid BIGINT NOT NULL PRIMARY KEY,
	allow INTEGER NOT NULL);`,
			MySQL: `CREATE TABLE im_messages (
	id BIGINT NOT NULL PRIMARY KEY,
	sender BIGINT NOT NULL,
	receiver BIGINT NOT NULL,
	body TEXT NOT NULL,
	client_id VARCHAR(64) NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	recalled TINYINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_sends (
	sender BIGINT NOT NULL,
	client_id VARCHAR(64) NOT NULL,
	msg_id BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (sender, client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_timeline (
	uid BIGINT NOT NULL,
	msg_id BIGINT NOT NULL,
	peer BIGINT NOT NULL,
	outgoing TINYINT NOT NULL,
	deleted TINYINT NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, msg_id),
	KEY im_timeline_chat (uid, peer, msg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_conversations (
	uid BIGINT NOT NULL,
	peer BIGINT NOT NULL,
	last_id BIGINT NOT NULL,
	mtime BIGINT NOT NULL,
	unread BIGINT NOT NULL DEFAULT 0,
	read_id BIGINT NOT NULL DEFAULT 0,
	muted TINYINT NOT NULL DEFAULT 0,
	PRIMARY KEY (uid, peer),
	KEY im_conversations_list (uid, mtime, peer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_unread (
	uid BIGINT NOT NULL PRIMARY KEY,
	total BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_blocks (
	uid BIGINT NOT NULL,
	blocked BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (uid, blocked),
	KEY im_blocks_recent (uid, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_settings (
	uid BIGINT NOT NULL PRIMARY KEY,
	allow INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`},
		// Every change of a conversation row or an unread total counts up its version: the
		// hot tier keeps a state only over an older version, so a late event never wins.
		{Version: 2, Name: "state versions",
			SQLite: `ALTER TABLE im_conversations ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE im_unread ADD COLUMN version BIGINT NOT NULL DEFAULT 0;`,
			MySQL: `ALTER TABLE im_conversations ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE im_unread ADD COLUMN version BIGINT NOT NULL DEFAULT 0;`},
		// A conversation the user never wrote in is a stranger's (folder 1) until they reply.
		{Version: 3, Name: "stranger folder",
			SQLite: `ALTER TABLE im_conversations ADD COLUMN folder INTEGER NOT NULL DEFAULT 0;
CREATE INDEX im_conversations_folder ON im_conversations (uid, folder, mtime, peer);`,
			MySQL: `ALTER TABLE im_conversations ADD COLUMN folder TINYINT NOT NULL DEFAULT 0,
	ADD KEY im_conversations_folder (uid, folder, mtime, peer);`},
		// Customer service: which agent of a service account answers which user.
		{Version: 4, Name: "service assignments",
			SQLite: `CREATE TABLE im_service_assign (
	service BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	agent BIGINT NOT NULL,
	assigned_at BIGINT NOT NULL,
	PRIMARY KEY (service, uid));
CREATE INDEX im_service_assign_agent ON im_service_assign (service, agent);`,
			MySQL: `CREATE TABLE im_service_assign (
	service BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	agent BIGINT NOT NULL,
	assigned_at BIGINT NOT NULL,
	PRIMARY KEY (service, uid),
	KEY im_service_assign_agent (service, agent)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`},
		// A year of messages: on MySQL the content is range-partitioned by id, which is time
		// (pkg/ids), one partition per month split off pmax by the maintainer (sqlstore.PartitionKeeper, run at start and daily).
		// MySQL wants every unique key to hold the partition column: im_messages has one, its
		// primary key (id). On a table that holds rows already the ALTER copies it once.
		// SQLite has no partitions (see sqlstore/partition.go): nothing to do there.
		{Version: 5, Name: "messages partitioned by month",
			SQLite: `SELECT 1;`,
			MySQL:  `ALTER TABLE im_messages PARTITION BY RANGE (id) (PARTITION pmax VALUES LESS THAN MAXVALUE);`},
		// A muted conversation's unread messages are no longer in the user's total (SetMuted):
		// the totals counted before are counted again without them.
		{Version: 6, Name: "totals without muted conversations", SQLite: recountTotals, MySQL: recountTotals},
		// Do-not-disturb hours (DND): a user's settings row keeps them beside allow; a row
		// stored before has them off, with no hours.
		{Version: 7, Name: "do-not-disturb hours",
			SQLite: `ALTER TABLE im_settings ADD COLUMN dnd_on INTEGER NOT NULL DEFAULT 0;
ALTER TABLE im_settings ADD COLUMN dnd_from VARCHAR(5) NOT NULL DEFAULT '';
ALTER TABLE im_settings ADD COLUMN dnd_to VARCHAR(5) NOT NULL DEFAULT '';
ALTER TABLE im_settings ADD COLUMN dnd_tz VARCHAR(64) NOT NULL DEFAULT '';`,
			MySQL: `ALTER TABLE im_settings ADD COLUMN dnd_on TINYINT NOT NULL DEFAULT 0,
	ADD COLUMN dnd_from VARCHAR(5) NOT NULL DEFAULT '',
	ADD COLUMN dnd_to VARCHAR(5) NOT NULL DEFAULT '',
	ADD COLUMN dnd_tz VARCHAR(64) NOT NULL DEFAULT '';`},
	}
}

const recountTotals = `UPDATE im_unread SET total = (SELECT COALESCE(SUM(c.unread), 0) FROM im_conversations c
	WHERE c.uid = im_unread.uid AND c.muted = 0), version = version + 1;`

// partitioned are the tables kept in monthly partitions on MySQL: the messages' content. The
// timeline and the client-id records are not (docs/im.md, "A year of messages": partitioning
// the timeline made the store writer several times slower on MariaDB).
func partitioned(ahead int, retention time.Duration) []sqlstore.Partitioned {
	return []sqlstore.Partitioned{
		{Table: "im_messages", Ahead: ahead, Retention: retention},
	}
}

// sqlStore is the Store on SQLite or MySQL.
type sqlStore struct {
	db *sqlstore.DB
}

// NewSQLStore returns the Store kept in db.
func NewSQLStore(db *sqlstore.DB) Store { return &sqlStore{db: db} }

func (s *sqlStore) Migrate(ctx context.Context) error {
	return s.db.Migrate(ctx, "im-chat", Migrations())
}

// errRace is a batch whose messages another writer stored while this one was at it: the
// transaction is rolled back and the batch applied again, seeing what the other stored.
var errRace = errors.New("im: batch raced another writer")

// applyAttempts bounds the retries of a batch that raced or deadlocked.
const applyAttempts = 10

func (s *sqlStore) Apply(ctx context.Context, msgs []Message) (Applied, error) {
	seen := make(map[int64]bool, len(msgs))
	uniq := msgs[:0:0]
	for _, m := range msgs {
		if !seen[m.ID] {
			seen[m.ID] = true
			uniq = append(uniq, m)
		}
	}
	// Rows are written in key order, so two writers take their locks in the same order and
	// rarely deadlock; when they do, or raced, the batch runs again after a short pause.
	slices.SortFunc(uniq, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	for attempt := 1; ; attempt++ {
		// The first try assumes what is nearly always true — no message of the batch is
		// stored yet — and lets the inserts check it; a batch that overlaps stored messages
		// runs again and looks first.
		n, err := s.apply(ctx, uniq, attempt > 1)
		if (errors.Is(err, errRace) || sqlstore.IsRetryable(err)) && attempt < applyAttempts && ctx.Err() == nil {
			if attempt > 1 {
				time.Sleep(time.Duration(rand.IntN(attempt*5)+1) * time.Millisecond)
			}
			continue
		}
		if err != nil {
			return Applied{}, err
		}
		return Applied{Stored: n}, nil
	}
}

func (s *sqlStore) States(ctx context.Context, msgs []Message) ([]ConvState, []Total, error) {
	return s.states(ctx, msgs)
}

// states reads the conversation rows and unread totals msgs touch.
func (s *sqlStore) states(ctx context.Context, msgs []Message) ([]ConvState, []Total, error) {
	uids := map[int64]bool{}
	want := map[pair]bool{}
	for _, m := range msgs {
		uids[m.From], uids[m.To] = true, true
		want[pair{m.From, m.To}], want[pair{m.To, m.From}] = true, true
	}
	var convs []ConvState
	err := sqlstore.Each(ctx, s.db.DB, "SELECT uid, "+convColumns+", version FROM im_conversations WHERE "+
		sqlstore.Pairs("uid", "peer", len(want)), pairArgs(want), func(r *sql.Rows) error {
		var c ConvState
		var folder int
		err := r.Scan(&c.UID, &c.Peer, &c.LastID, &c.Mtime, &c.Unread, &c.ReadID, &c.Muted, &folder, &c.Version)
		c.Stranger = folder == FolderStrangers
		convs = append(convs, c)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("conversation states: %w", err)
	}
	totals, err := s.totals(ctx, s.db.DB, keysOf(uids))
	return convs, totals, err
}

// totals reads the unread totals of uids (a user without a row has none).
func (s *sqlStore) totals(ctx context.Context, db sqlstore.Querier, uids []any) ([]Total, error) {
	var out []Total
	err := sqlstore.Each(ctx, db, "SELECT uid, total, version FROM im_unread WHERE uid IN ("+sqlstore.Marks(len(uids))+")", uids,
		func(r *sql.Rows) error {
			var t Total
			err := r.Scan(&t.UID, &t.Total, &t.Version)
			out = append(out, t)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("unread totals: %w", err)
	}
	return out, nil
}

// pair is one side of a chat: uid's conversation with peer.
type pair struct{ uid, peer int64 }

// convDelta is what a batch changes in one conversation.
type convDelta struct {
	lastID, mtime int64
	incoming      []int64 // ids of the messages peer sent (unread unless read already)
	wrote         bool    // uid sent a message in it: not a stranger's conversation
}

func (s *sqlStore) apply(ctx context.Context, msgs []Message, careful bool) (int, error) {
	stored := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		fresh := msgs
		if careful {
			var err error
			if fresh, err = s.unstored(ctx, tx, msgs); err != nil || len(fresh) == 0 {
				return err
			}
		}
		if err := insertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_messages (id, sender, receiver, body, client_id, created_at) VALUES ",
			6, len(fresh), func(i int) []any {
				m := fresh[i]
				return []any{m.ID, m.From, m.To, m.Text, m.ClientID, m.Ts}
			}, len(fresh)); err != nil {
			return err
		}
		var sends []Message
		for _, m := range fresh {
			if m.ClientID != "" {
				sends = append(sends, m)
			}
		}
		if err := insertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_sends (sender, client_id, msg_id, created_at) VALUES ",
			4, len(sends), func(i int) []any {
				m := sends[i]
				return []any{m.From, m.ClientID, m.ID, m.Ts}
			}, len(sends)); err != nil {
			return err
		}
		entries := make([][4]int64, 0, 2*len(fresh))
		for _, m := range fresh {
			entries = append(entries, [4]int64{m.From, m.ID, m.To, 1}, [4]int64{m.To, m.ID, m.From, 0})
		}
		slices.SortFunc(entries, func(a, b [4]int64) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		if err := insertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_timeline (uid, msg_id, peer, outgoing) VALUES ",
			4, len(entries), func(i int) []any {
				e := entries[i]
				return []any{e[0], e[1], e[2], e[3]}
			}, len(entries)); err != nil {
			return err
		}
		if err := s.applyConversations(ctx, tx, fresh); err != nil {
			return err
		}
		stored = len(fresh)
		return nil
	})
	return stored, err
}

// unstored returns the messages of msgs not stored yet, by id and by sender and client id.
func (s *sqlStore) unstored(ctx context.Context, tx *sql.Tx, msgs []Message) ([]Message, error) {
	have := map[int64]bool{}
	ids := make([]any, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if err := sqlstore.Each(ctx, tx, "SELECT id FROM im_messages WHERE id IN ("+sqlstore.Marks(len(ids))+")", ids, func(r *sql.Rows) error {
		var id int64
		err := r.Scan(&id)
		have[id] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("stored messages: %w", err)
	}
	sentAs, err := s.sentAs(ctx, tx, msgs, have)
	if err != nil {
		return nil, err
	}
	var fresh []Message
	taken := map[sent]bool{}
	for _, m := range msgs {
		if have[m.ID] {
			continue
		}
		if m.ClientID != "" {
			k := sent{m.From, m.ClientID}
			if _, ok := sentAs[k]; ok || taken[k] {
				continue // a replay of a stored message under a new id
			}
			taken[k] = true
		}
		fresh = append(fresh, m)
	}
	return fresh, nil
}

// sent is a sender's client message id.
type sent struct {
	from int64
	cid  string
}

// sentAs reads which client ids of msgs (but those whose id is in skip) are stored already,
// and under which message id.
func (s *sqlStore) sentAs(ctx context.Context, tx *sql.Tx, msgs []Message, skip map[int64]bool) (map[sent]int64, error) {
	var args []any
	for _, m := range msgs {
		if m.ClientID != "" && !skip[m.ID] {
			args = append(args, m.From, m.ClientID)
		}
	}
	out := map[sent]int64{}
	if len(args) == 0 {
		return out, nil
	}
	q := "SELECT sender, client_id, msg_id FROM im_sends WHERE " + sqlstore.Pairs("sender", "client_id", len(args)/2)
	if err := sqlstore.Each(ctx, tx, q, args, func(r *sql.Rows) error {
		var k sent
		var id int64
		err := r.Scan(&k.from, &k.cid, &id)
		if prev, ok := out[k]; !ok || id < prev {
			out[k] = id
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("stored client ids: %w", err)
	}
	return out, nil
}

// applyConversations moves both sides' conversations to the batch's newest message and adds
// the receivers' unread messages: those newer than what the receiver has already read (a
// client may mark a message read from its push before it is stored).
func (s *sqlStore) applyConversations(ctx context.Context, tx *sql.Tx, msgs []Message) error {
	deltas := map[pair]*convDelta{}
	var order []pair
	touch := func(p pair, m Message) *convDelta {
		d := deltas[p]
		if d == nil {
			d = &convDelta{}
			deltas[p] = d
			order = append(order, p)
		}
		if m.ID > d.lastID {
			d.lastID, d.mtime = m.ID, m.Ts
		}
		return d
	}
	for _, m := range msgs {
		touch(pair{m.From, m.To}, m).wrote = true
		d := touch(pair{m.To, m.From}, m)
		d.incoming = append(d.incoming, m.ID)
	}
	slices.SortFunc(order, func(a, b pair) int { return cmp.Or(cmp.Compare(a.uid, b.uid), cmp.Compare(a.peer, b.peer)) })
	readID := map[pair]int64{}
	muted := map[pair]bool{}
	args := make([]any, 0, 2*len(order))
	for _, p := range order {
		args = append(args, p.uid, p.peer)
	}
	q := "SELECT uid, peer, read_id, muted FROM im_conversations WHERE " + sqlstore.Pairs("uid", "peer", len(order)) + s.db.ForUpdate()
	if err := sqlstore.Each(ctx, tx, q, args, func(r *sql.Rows) error {
		var p pair
		var id int64
		var m bool
		err := r.Scan(&p.uid, &p.peer, &id, &m)
		readID[p], muted[p] = id, m
		return err
	}); err != nil {
		return fmt.Errorf("read positions: %w", err)
	}
	unread := map[int64]int64{}
	var totals []int64
	rows := make([][]any, 0, len(order))
	for _, p := range order {
		d := deltas[p]
		var n int64
		for _, id := range d.incoming {
			if id > readID[p] {
				n++
			}
		}
		if n > 0 && !muted[p] { // a muted conversation's messages are not in the badge
			if _, ok := unread[p.uid]; !ok {
				totals = append(totals, p.uid)
			}
			unread[p.uid] += n
		}
		folder := FolderStrangers
		if d.wrote {
			folder = FolderMain
		}
		rows = append(rows, []any{p.uid, p.peer, d.lastID, d.mtime, n, 1, folder})
	}
	up := s.db.UpsertTail([]string{"uid", "peer"},
		"last_id = GREATEST(last_id, EXCLUDED(last_id))", "mtime = GREATEST(mtime, EXCLUDED(mtime))",
		"unread = unread + EXCLUDED(unread)", "version = version + 1", "folder = LEAST(folder, EXCLUDED(folder))")
	if err := insertRows(ctx, tx, "INSERT INTO im_conversations (uid, peer, last_id, mtime, unread, version, folder) VALUES ", 7, len(rows),
		func(i int) []any { return rows[i] }, -1, up); err != nil {
		return err
	}
	slices.Sort(totals)
	up = s.db.UpsertTail([]string{"uid"}, "total = total + EXCLUDED(total)", "version = version + 1")
	return insertRows(ctx, tx, "INSERT INTO im_unread (uid, total, version) VALUES ", 3, len(totals),
		func(i int) []any { return []any{totals[i], unread[totals[i]], 1} }, -1, up)
}

// insertRows is sqlstore.InsertRows; want >= 0 is how many rows the statement must insert:
// fewer means another writer stored some meanwhile (errRace).
func insertRows(ctx context.Context, tx *sql.Tx, head string, width, n int, row func(i int) []any, want int, tail ...string) error {
	got, err := sqlstore.InsertRows(ctx, tx, head, width, n, row, tail...)
	if err != nil {
		return err
	}
	if want >= 0 && got != int64(want) {
		return errRace
	}
	return nil
}

// pairArgs is the arguments of sqlstore.Pairs("uid", "peer", len(ps)).
func pairArgs(ps map[pair]bool) []any {
	out := make([]any, 0, 2*len(ps))
	for p := range ps {
		out = append(out, p.uid, p.peer)
	}
	return out
}

func keysOf(m map[int64]bool) []any {
	out := make([]any, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (s *sqlStore) CheckSend(ctx context.Context, from, to int64, clientID string) (SendCheck, error) {
	st, err := s.db.Stmt(ctx, `SELECT COALESCE((SELECT MIN(msg_id) FROM im_sends WHERE sender = ? AND client_id = ?), 0),
		(SELECT COUNT(*) FROM im_blocks WHERE uid = ? AND blocked = ?),
		COALESCE((SELECT allow FROM im_settings WHERE uid = ?), 0),
		(SELECT COUNT(*) FROM im_conversations WHERE uid = ? AND peer = ? AND folder = 0)`)
	if err != nil {
		return SendCheck{}, err
	}
	var c SendCheck
	var blocked, wrote int
	if err := st.QueryRowContext(ctx, from, clientID, to, from, to, to, from).Scan(&c.SentID, &blocked, &c.Settings.Allow, &wrote); err != nil {
		return SendCheck{}, fmt.Errorf("check send: %w", err)
	}
	c.Blocked, c.Wrote = blocked > 0, wrote > 0
	if clientID == "" {
		c.SentID = 0
	}
	return c, nil
}

const convColumns = "peer, last_id, mtime, unread, read_id, muted, folder"

func scanConv(r interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var folder int
	err := r.Scan(&c.Peer, &c.LastID, &c.Mtime, &c.Unread, &c.ReadID, &c.Muted, &folder)
	c.Stranger = folder == FolderStrangers
	return c, err
}

func (s *sqlStore) Conversations(ctx context.Context, uid int64, folder int, c Cursor, limit int) ([]Conversation, error) {
	if c.Mtime == 0 && c.Peer == 0 {
		c = Cursor{Mtime: math.MaxInt64, Peer: math.MaxInt64}
	}
	where, args := "uid = ?", []any{uid}
	if folder != FolderAll {
		where, args = "uid = ? AND folder = ?", []any{uid, folder}
	}
	// The keyset condition: SQLite ranges over the index only with a row value (with the OR it
	// walks the list from the top: 50 ms for a page 500,000 deep), MariaDB with either.
	after, afterArgs := "(mtime < ? OR (mtime = ? AND peer < ?))", []any{c.Mtime, c.Mtime, c.Peer}
	if s.db.Dialect == sqlstore.SQLite {
		after, afterArgs = "(mtime, peer) < (?, ?)", []any{c.Mtime, c.Peer}
	}
	out := make([]Conversation, 0, limit)
	err := sqlstore.Each(ctx, s.db.Reader(), "SELECT "+convColumns+` FROM im_conversations
		WHERE `+where+` AND `+after+` ORDER BY mtime DESC, peer DESC LIMIT ?`,
		append(append(args, afterArgs...), limit), func(r *sql.Rows) error {
			cv, err := scanConv(r)
			out = append(out, cv)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Conversation(ctx context.Context, uid, peer int64) (Conversation, bool, error) {
	c, err := scanConv(s.db.QueryRowContext(ctx, "SELECT "+convColumns+" FROM im_conversations WHERE uid = ? AND peer = ?", uid, peer))
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, false, nil
	}
	if err != nil {
		return Conversation{}, false, fmt.Errorf("conversation: %w", err)
	}
	return c, true, nil
}

const msgColumns = "id, sender, receiver, body, client_id, created_at, recalled"

func scanMsg(r interface{ Scan(...any) error }) (Message, error) {
	var m Message
	err := r.Scan(&m.ID, &m.From, &m.To, &m.Text, &m.ClientID, &m.Ts, &m.Recalled)
	return m, err
}

func (s *sqlStore) Messages(ctx context.Context, ids []int64) (map[int64]Message, error) {
	out, err := sqlstore.ByID(ctx, s.db.DB, "SELECT "+msgColumns+" FROM im_messages WHERE id IN", ids, func(r *sql.Rows) (int64, Message, error) {
		m, err := scanMsg(r)
		return m.ID, m, err
	})
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	return out, nil
}

// timelineMessages returns the messages of the timeline entries q selects, in its order.
func (s *sqlStore) timelineMessages(ctx context.Context, what, q string, args ...any) ([]Message, error) {
	var out []Message
	err := sqlstore.Each(ctx, s.db.Reader(), "SELECT m.id, m.sender, m.receiver, m.body, m.client_id, m.created_at, m.recalled"+
		" FROM im_timeline t JOIN im_messages m ON m.id = t.msg_id "+q, args, func(r *sql.Rows) error {
		m, err := scanMsg(r)
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (s *sqlStore) History(ctx context.Context, uid, peer, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	return s.timelineMessages(ctx, "history", `WHERE t.uid = ? AND t.peer = ? AND t.msg_id < ? AND t.deleted = 0
		ORDER BY t.msg_id DESC LIMIT ?`, uid, peer, before, limit)
}

func (s *sqlStore) Since(ctx context.Context, uid, after int64, limit int) ([]Message, error) {
	return s.timelineMessages(ctx, "sync", `WHERE t.uid = ? AND t.msg_id > ? AND t.deleted = 0
		ORDER BY t.msg_id LIMIT ?`, uid, after, limit)
}

func (s *sqlStore) Unread(ctx context.Context, uid int64) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT total FROM im_unread WHERE uid = ?", uid).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("unread: %w", err)
	}
	return n, nil
}

func (s *sqlStore) MarkRead(ctx context.Context, uid, peer, upto int64) (Change, error) {
	var out Change
	lock := s.db.ForUpdate()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		c, err := scanConv(tx.QueryRowContext(ctx, "SELECT "+convColumns+" FROM im_conversations WHERE uid = ? AND peer = ?"+lock, uid, peer))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoConversation
		}
		if err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		upto = min(upto, c.LastID)
		if upto <= c.ReadID {
			out.Conv = ConvState{UID: uid, Conversation: c}
			return nil
		}
		var left int64
		if upto < c.LastID {
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM im_timeline
				WHERE uid = ? AND peer = ? AND msg_id > ? AND outgoing = 0`, uid, peer, upto).Scan(&left); err != nil {
				return fmt.Errorf("mark read: count: %w", err)
			}
			left = min(left, c.Unread)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE im_conversations SET unread = ?, read_id = ?, version = version + 1 WHERE uid = ? AND peer = ?",
			left, upto, uid, peer); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		if d := c.Unread - left; d > 0 && !c.Muted {
			if _, err := tx.ExecContext(ctx, "UPDATE im_unread SET total = total - ?, version = version + 1 WHERE uid = ?", d, uid); err != nil {
				return fmt.Errorf("mark read: total: %w", err)
			}
		}
		if out, err = s.change(ctx, tx, uid, peer); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		out.Changed = true
		return nil
	})
	return out, err
}

// change reads uid's conversation with peer and uid's unread total as they are now.
func (s *sqlStore) change(ctx context.Context, db interface {
	sqlstore.Querier
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}, uid, peer int64) (Change, error) {
	var out Change
	out.Conv.UID = uid
	c := &out.Conv
	var folder int
	if err := db.QueryRowContext(ctx, "SELECT "+convColumns+", version FROM im_conversations WHERE uid = ? AND peer = ?", uid, peer).
		Scan(&c.Peer, &c.LastID, &c.Mtime, &c.Unread, &c.ReadID, &c.Muted, &folder, &c.Version); err != nil {
		return Change{}, err
	}
	c.Stranger = folder == FolderStrangers
	totals, err := s.totals(ctx, db, []any{uid})
	if err != nil {
		return Change{}, err
	}
	out.Total = Total{UID: uid}
	if len(totals) == 1 {
		out.Total = totals[0]
	}
	return out, nil
}

func (s *sqlStore) Recall(ctx context.Context, uid, id, notBefore int64) (Message, error) {
	var out Message
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		m, err := scanMsg(tx.QueryRowContext(ctx, "SELECT "+msgColumns+" FROM im_messages WHERE id = ? AND sender = ?", id, uid))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMessage
		}
		if err != nil {
			return fmt.Errorf("recall: %w", err)
		}
		if m.Recalled {
			out = m
			return nil
		}
		if m.Ts < notBefore {
			return ErrRecallLate
		}
		if _, err := tx.ExecContext(ctx, "UPDATE im_messages SET recalled = 1, body = '' WHERE id = ?", id); err != nil {
			return fmt.Errorf("recall: %w", err)
		}
		m.Recalled, m.Text = true, ""
		out = m
		return nil
	})
	return out, err
}

func (s *sqlStore) Delete(ctx context.Context, uid, id int64) error {
	res, err := s.db.ExecContext(ctx, "UPDATE im_timeline SET deleted = 1 WHERE uid = ? AND msg_id = ? AND deleted = 0", uid, id)
	if err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoMessage
	}
	return nil
}

func (s *sqlStore) SetMuted(ctx context.Context, uid, peer int64, muted bool) (Change, error) {
	var out Change
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		c, err := scanConv(tx.QueryRowContext(ctx, "SELECT "+convColumns+" FROM im_conversations WHERE uid = ? AND peer = ?"+s.db.ForUpdate(), uid, peer))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoConversation
		}
		if err != nil {
			return fmt.Errorf("mute conversation: %w", err)
		}
		if c.Muted == muted {
			out.Conv = ConvState{UID: uid, Conversation: c}
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE im_conversations SET muted = ?, version = version + 1 WHERE uid = ? AND peer = ?", muted, uid, peer); err != nil {
			return fmt.Errorf("mute conversation: %w", err)
		}
		if c.Unread > 0 { // its unread messages leave the badge, or come back to it
			d := c.Unread
			if muted {
				d = -d
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO im_unread (uid, total, version) VALUES (?, ?, 1)"+
				s.db.UpsertTail([]string{"uid"}, "total = total + EXCLUDED(total)", "version = version + 1"), uid, d); err != nil {
				return fmt.Errorf("mute conversation: total: %w", err)
			}
		}
		if out, err = s.change(ctx, tx, uid, peer); err != nil {
			return fmt.Errorf("mute conversation: %w", err)
		}
		out.Changed = true
		return nil
	})
	return out, err
}

func (s *sqlStore) Warm(ctx context.Context, uid int64, limit int) ([]ConvState, Total, error) {
	var convs []ConvState
	err := sqlstore.Each(ctx, s.db.DB, "SELECT "+convColumns+", version FROM im_conversations WHERE uid = ? ORDER BY mtime DESC, peer DESC LIMIT ?",
		[]any{uid, limit}, func(r *sql.Rows) error {
			c := ConvState{UID: uid}
			var folder int
			err := r.Scan(&c.Peer, &c.LastID, &c.Mtime, &c.Unread, &c.ReadID, &c.Muted, &folder, &c.Version)
			c.Stranger = folder == FolderStrangers
			convs = append(convs, c)
			return err
		})
	if err != nil {
		return nil, Total{}, fmt.Errorf("warm conversations: %w", err)
	}
	totals, err := s.totals(ctx, s.db.DB, []any{uid})
	if err != nil {
		return nil, Total{}, err
	}
	t := Total{UID: uid}
	if len(totals) == 1 {
		t = totals[0]
	}
	return convs, t, nil
}

func (s *sqlStore) Recent(ctx context.Context, uid int64, limit int) ([]Entry, error) {
	var out []Entry
	err := sqlstore.Each(ctx, s.db.DB, "SELECT msg_id, peer FROM im_timeline WHERE uid = ? AND deleted = 0 ORDER BY msg_id DESC LIMIT ?",
		[]any{uid, limit}, func(r *sql.Rows) error {
			e := Entry{UID: uid}
			if err := r.Scan(&e.ID, &e.Peer); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("recent timeline: %w", err)
	}
	return out, nil
}

func (s *sqlStore) AtLeast(ctx context.Context, uid int64, n int) (bool, error) {
	var got int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM im_conversations WHERE uid = ? LIMIT ?) t", uid, n).Scan(&got)
	if err != nil {
		return false, fmt.Errorf("count conversations: %w", err)
	}
	return got >= n, nil
}

func (s *sqlStore) Block(ctx context.Context, uid, blocked, at int64) error {
	if _, err := s.db.ExecContext(ctx, s.db.InsertIgnore()+" INTO im_blocks (uid, blocked, created_at) VALUES (?, ?, ?)",
		uid, blocked, at); err != nil {
		return fmt.Errorf("block: %w", err)
	}
	return nil
}

func (s *sqlStore) Unblock(ctx context.Context, uid, blocked int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM im_blocks WHERE uid = ? AND blocked = ?", uid, blocked)
	if err != nil {
		return false, fmt.Errorf("unblock: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (s *sqlStore) Blocks(ctx context.Context, uid int64, limit int) ([]int64, error) {
	out := []int64{}
	err := sqlstore.Each(ctx, s.db.DB, "SELECT blocked FROM im_blocks WHERE uid = ? ORDER BY created_at DESC, blocked DESC LIMIT ?",
		[]any{uid, limit}, func(r *sql.Rows) error {
			var id int64
			err := r.Scan(&id)
			out = append(out, id)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("blocks: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Settings(ctx context.Context, uid int64) (Settings, error) {
	var st Settings
	err := s.db.QueryRowContext(ctx, "SELECT allow, dnd_on, dnd_from, dnd_to, dnd_tz FROM im_settings WHERE uid = ?", uid).
		Scan(&st.Allow, &st.DND.On, &st.DND.From, &st.DND.To, &st.DND.TZ)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	return st, nil
}

func (s *sqlStore) SetSettings(ctx context.Context, uid int64, st Settings) error {
	q := s.db.Upsert("im_settings", []string{"uid", "allow", "dnd_on", "dnd_from", "dnd_to", "dnd_tz"}, []string{"uid"},
		"allow = EXCLUDED(allow)", "dnd_on = EXCLUDED(dnd_on)", "dnd_from = EXCLUDED(dnd_from)", "dnd_to = EXCLUDED(dnd_to)",
		"dnd_tz = EXCLUDED(dnd_tz)")
	if _, err := s.db.ExecContext(ctx, q, uid, st.Allow, st.DND.On, st.DND.From, st.DND.To, st.DND.TZ); err != nil {
		return fmt.Errorf("set settings: %w", err)
	}
	return nil
}

func (s *sqlStore) Assign(ctx context.Context, service, uid int64, agents, prefer []int64, at int64) (int64, error) {
	var agent int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT agent FROM im_service_assign WHERE service = ? AND uid = ?"+s.db.ForUpdate(), service, uid).Scan(&agent)
		if err == nil && slices.Contains(agents, agent) {
			return nil // assigned already, to an agent still in the pool
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("assignment: %w", err)
		}
		load := map[int64]int{}
		if err := sqlstore.Each(ctx, tx, "SELECT agent, COUNT(*) FROM im_service_assign WHERE service = ? GROUP BY agent", []any{service},
			func(r *sql.Rows) error {
				var a int64
				var n int
				err := r.Scan(&a, &n)
				load[a] = n
				return err
			}); err != nil {
			return fmt.Errorf("assignment load: %w", err)
		}
		pick := agents
		if len(prefer) > 0 {
			pick = prefer
		}
		agent = pick[0]
		for _, a := range pick[1:] { // the least loaded, the first listed on a tie
			if load[a] < load[agent] {
				agent = a
			}
		}
		_, err = tx.ExecContext(ctx, s.db.Upsert("im_service_assign", []string{"service", "uid", "agent", "assigned_at"}, []string{"service", "uid"},
			"agent = EXCLUDED(agent)", "assigned_at = EXCLUDED(assigned_at)"), service, uid, agent, at)
		return err
	})
	return agent, err
}

func (s *sqlStore) Reassign(ctx context.Context, service, uid, agent, at int64) (int64, error) {
	var prev int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM im_conversations WHERE uid = ? AND peer = ?", service, uid).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoConversation
		}
		if err != nil {
			return fmt.Errorf("reassign: %w", err)
		}
		// Locked like Assign's read, so a first message's assignment and this one take turns.
		err = tx.QueryRowContext(ctx, "SELECT agent FROM im_service_assign WHERE service = ? AND uid = ?"+s.db.ForUpdate(), service, uid).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reassign: %w", err)
		}
		if prev == agent {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.db.Upsert("im_service_assign", []string{"service", "uid", "agent", "assigned_at"}, []string{"service", "uid"},
			"agent = EXCLUDED(agent)", "assigned_at = EXCLUDED(assigned_at)"), service, uid, agent, at)
		if err != nil {
			return fmt.Errorf("reassign: %w", err)
		}
		return nil
	})
	return prev, err
}

func (s *sqlStore) Assignments(ctx context.Context, service int64, uids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(uids) == 0 {
		return out, nil
	}
	args := []any{service}
	for _, u := range uids {
		args = append(args, u)
	}
	err := sqlstore.Each(ctx, s.db.DB, "SELECT uid, agent FROM im_service_assign WHERE service = ? AND uid IN ("+sqlstore.Marks(len(uids))+")", args,
		func(r *sql.Rows) error {
			var u, a int64
			err := r.Scan(&u, &a)
			out[u] = a
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("assignments: %w", err)
	}
	return out, nil
}
