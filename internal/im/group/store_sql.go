package group

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

// Migrations are group chat's tables. Read diffusion: a message is one row of its group's
// timeline (im_group_messages by (group_id, id)); each member keeps a read position in
// im_group_members, listed by (uid, group_id) for a user's groups.
func Migrations() []sqlstore.Migration {
	return []sqlstore.Migration{
		{Version: 1, Name: "group chat",
			SQLite: `CREATE TABLE im_groups (
	id BIGINT NOT NULL PRIMARY KEY,
	owner BIGINT NOT NULL,
	name VARCHAR(100) NOT NULL,
	members INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	last_id BIGINT NOT NULL DEFAULT 0,
	mtime BIGINT NOT NULL);
CREATE TABLE im_group_members (
	group_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	role INTEGER NOT NULL,
	joined_id BIGINT NOT NULL,
	read_id BIGINT NOT NULL DEFAULT 0,
	muted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (group_id, uid));
CREATE INDEX im_group_members_uid ON im_group_members (uid, group_id);
CREATE TABLE im_group_messages (
	id BIGINT NOT NULL PRIMARY KEY,
	group_id BIGINT NOT NULL,
	sender BIGINT NOT NULL,
	body TEXT NOT NULL,
	client_id VARCHAR(64) NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	recalled INTEGER NOT NULL DEFAULT 0);
CREATE INDEX im_group_messages_timeline ON im_group_messages (group_id, id);
CREATE TABLE im_group_sends (
	sender BIGINT NOT NULL,
	client_id VARCHAR(64) NOT NULL,
	msg_id BIGINT NOT NULL,
	PRIMARY KEY (sender, client_id));`,
			MySQL: `CREATE TABLE im_groups (
	id BIGINT NOT NULL PRIMARY KEY,
	owner BIGINT NOT NULL,
	name VARCHAR(100) NOT NULL,
	members INT NOT NULL,
	created_at BIGINT NOT NULL,
	last_id BIGINT NOT NULL DEFAULT 0,
	mtime BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_group_members (
	group_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	role TINYINT NOT NULL,
	joined_id BIGINT NOT NULL,
	read_id BIGINT NOT NULL DEFAULT 0,
	muted TINYINT NOT NULL DEFAULT 0,
	PRIMARY KEY (group_id, uid),
	KEY im_group_members_uid (uid, group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_group_messages (
	id BIGINT NOT NULL PRIMARY KEY,
	group_id BIGINT NOT NULL,
	sender BIGINT NOT NULL,
	body TEXT NOT NULL,
	client_id VARCHAR(64) NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	recalled TINYINT NOT NULL DEFAULT 0,
	KEY im_group_messages_timeline (group_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE im_group_sends (
	sender BIGINT NOT NULL,
	client_id VARCHAR(64) NOT NULL,
	msg_id BIGINT NOT NULL,
	PRIMARY KEY (sender, client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`},
		// A year of messages: on MySQL the timeline is range-partitioned by id, which is time
		// (pkg/ids), one partition per month split off pmax by the maintainer (sqlstore.PartitionKeeper, run at start and daily).
		// MySQL wants every unique key to hold the partition column: the only unique key is
		// the primary key (id); the timeline key (group_id, id) is not unique, and holding id
		// it still narrows a page of history to the months of its ids. On a table that holds
		// rows already the ALTER copies it once. SQLite has no partitions: nothing to do there.
		{Version: 2, Name: "messages partitioned by month",
			SQLite: `SELECT 1;`,
			MySQL:  `ALTER TABLE im_group_messages PARTITION BY RANGE (id) (PARTITION pmax VALUES LESS THAN MAXVALUE);`},
	}
}

// partitioned are the tables kept in monthly partitions on MySQL. The client-id records
// (im_group_sends) are not: their key (sender, client_id) is what refuses a replay, whatever its
// age (docs/im.md, "A year of messages").
func partitioned(ahead int, retention time.Duration) []sqlstore.Partitioned {
	return []sqlstore.Partitioned{
		{Table: "im_group_messages", Ahead: ahead, Retention: retention},
	}
}

type sqlStore struct{ db *sqlstore.DB }

// NewSQLStore returns the Store kept in db.
func NewSQLStore(db *sqlstore.DB) Store { return &sqlStore{db: db} }

func (s *sqlStore) Migrate(ctx context.Context) error {
	return s.db.Migrate(ctx, "im-group", Migrations())
}

func (s *sqlStore) Create(ctx context.Context, g Group, members []int64, joinedID int64) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO im_groups (id, owner, name, members, created_at, mtime) VALUES (?, ?, ?, ?, ?, ?)",
			g.ID, g.Owner, g.Name, len(members), g.CreatedAt, g.CreatedAt); err != nil {
			return fmt.Errorf("create group: %w", err)
		}
		_, err := sqlstore.InsertRows(ctx, tx, "INSERT INTO im_group_members (group_id, uid, role, joined_id) VALUES ", 4, len(members),
			func(i int) []any {
				role := RoleMember
				if members[i] == g.Owner {
					role = RoleOwner
				}
				return []any{g.ID, members[i], role, joinedID}
			})
		return err
	})
}

const groupColumns = "id, owner, name, members, created_at, last_id, mtime"

func scanGroup(r interface{ Scan(...any) error }) (Group, error) {
	var g Group
	err := r.Scan(&g.ID, &g.Owner, &g.Name, &g.Members, &g.CreatedAt, &g.LastID, &g.Mtime)
	return g, err
}

func (s *sqlStore) Group(ctx context.Context, id int64) (Group, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx, "SELECT "+groupColumns+" FROM im_groups WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, ErrNoGroup
	}
	if err != nil {
		return Group{}, fmt.Errorf("group: %w", err)
	}
	return g, nil
}

const memberColumns = "group_id, uid, role, joined_id, read_id, muted"

func scanMember(r interface{ Scan(...any) error }) (Member, error) {
	var m Member
	err := r.Scan(&m.GroupID, &m.UID, &m.Role, &m.JoinedID, &m.ReadID, &m.Muted)
	return m, err
}

func (s *sqlStore) Member(ctx context.Context, group, uid int64) (Member, bool, error) {
	m, err := scanMember(s.db.QueryRowContext(ctx, "SELECT "+memberColumns+" FROM im_group_members WHERE group_id = ? AND uid = ?", group, uid))
	if errors.Is(err, sql.ErrNoRows) {
		return Member{}, false, nil
	}
	if err != nil {
		return Member{}, false, fmt.Errorf("member: %w", err)
	}
	return m, true, nil
}

func (s *sqlStore) Members(ctx context.Context, group, after int64, limit int) ([]Member, error) {
	out := []Member{}
	err := sqlstore.Each(ctx, s.db.DB, "SELECT "+memberColumns+" FROM im_group_members WHERE group_id = ? AND uid > ? ORDER BY uid LIMIT ?",
		[]any{group, after, limit}, func(r *sql.Rows) error {
			m, err := scanMember(r)
			out = append(out, m)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return out, nil
}

func (s *sqlStore) AddMembers(ctx context.Context, group int64, uids []int64, joinedID int64, max int) (int, error) {
	added := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT members FROM im_groups WHERE id = ?"+s.db.ForUpdate(), group).Scan(&n); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNoGroup
			}
			return fmt.Errorf("add members: %w", err)
		}
		got, err := sqlstore.InsertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_group_members (group_id, uid, role, joined_id) VALUES ", 4, len(uids),
			func(i int) []any { return []any{group, uids[i], RoleMember, joinedID} })
		if err != nil {
			return err
		}
		if n+int(got) > max {
			return ErrGroupFull.Withf("the group has %d members; %d more would pass its %d", n, got, max)
		}
		added = int(got)
		_, err = tx.ExecContext(ctx, "UPDATE im_groups SET members = members + ? WHERE id = ?", got, group)
		return err
	})
	return added, err
}

func (s *sqlStore) RemoveMember(ctx context.Context, group, uid int64) (bool, error) {
	removed := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM im_group_members WHERE group_id = ? AND uid = ?", group, uid)
		if err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		removed = true
		_, err = tx.ExecContext(ctx, "UPDATE im_groups SET members = members - 1 WHERE id = ?", group)
		return err
	})
	return removed, err
}

func (s *sqlStore) Apply(ctx context.Context, msgs []Message) (int, error) {
	slices.SortFunc(msgs, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	msgs = slices.CompactFunc(msgs, func(a, b Message) bool { return a.ID == b.ID })
	for attempt := 1; ; attempt++ {
		n, err := s.apply(ctx, msgs)
		if sqlstore.IsRetryable(err) && attempt < 10 && ctx.Err() == nil {
			// Two writers locking the same client ids deadlock; a short random pause lets
			// one of them through before the other runs again.
			time.Sleep(time.Duration(rand.IntN(attempt*5)+1) * time.Millisecond)
			continue
		}
		return n, err
	}
}

func (s *sqlStore) apply(ctx context.Context, msgs []Message) (int, error) {
	stored := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		ids := make([]any, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		have := map[int64]bool{}
		if err := sqlstore.Each(ctx, tx, "SELECT id FROM im_group_messages WHERE id IN ("+sqlstore.Marks(len(ids))+")"+s.db.ForUpdate(), ids,
			func(r *sql.Rows) error {
				var id int64
				err := r.Scan(&id)
				have[id] = true
				return err
			}); err != nil {
			return fmt.Errorf("stored group messages: %w", err)
		}
		// One message per sender and client id, whatever its id: the key of im_group_sends
		// refuses a second id.
		sent := map[sentKey]bool{}
		var fresh []Message
		for _, m := range msgs {
			if have[m.ID] {
				continue
			}
			if m.ClientID != "" {
				k := sentKey{m.From, m.ClientID}
				if sent[k] {
					continue
				}
				sent[k] = true
				n, err := sqlstore.InsertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_group_sends (sender, client_id, msg_id) VALUES ", 3, 1,
					func(int) []any { return []any{m.From, m.ClientID, m.ID} })
				if err != nil {
					return err
				}
				if n == 0 {
					continue
				}
			}
			fresh = append(fresh, m)
		}
		if _, err := sqlstore.InsertRows(ctx, tx, s.db.InsertIgnore()+" INTO im_group_messages (id, group_id, sender, body, client_id, created_at) VALUES ",
			6, len(fresh), func(i int) []any {
				m := fresh[i]
				return []any{m.ID, m.GroupID, m.From, m.Text, m.ClientID, m.Ts}
			}); err != nil {
			return err
		}
		newest := map[int64]Message{}
		for _, m := range fresh {
			newest[m.GroupID] = m // fresh is in id order
		}
		gids := make([]int64, 0, len(newest))
		for g := range newest {
			gids = append(gids, g)
		}
		slices.Sort(gids)
		for _, g := range gids {
			m := newest[g]
			if _, err := tx.ExecContext(ctx, "UPDATE im_groups SET last_id = ?, mtime = ? WHERE id = ? AND last_id < ?", m.ID, m.Ts, g, m.ID); err != nil {
				return fmt.Errorf("group timeline: %w", err)
			}
		}
		stored = len(fresh)
		return nil
	})
	return stored, err
}

// sentKey is a sender's client message id.
type sentKey struct {
	from int64
	cid  string
}

func (s *sqlStore) CheckSend(ctx context.Context, group, uid int64, clientID string) (SendCheck, error) {
	if clientID == "" {
		m, ok, err := s.Member(ctx, group, uid)
		return SendCheck{Member: m, IsMember: ok}, err
	}
	// The member row with the replay check beside it; no row: not a member.
	var sent sql.NullInt64
	var m Member
	err := s.db.QueryRowContext(ctx, "SELECT "+memberColumns+`,
		(SELECT msg_id FROM im_group_sends WHERE sender = ? AND client_id = ? ORDER BY msg_id LIMIT 1)
		FROM im_group_members WHERE group_id = ? AND uid = ?`, uid, clientID, group, uid).
		Scan(&m.GroupID, &m.UID, &m.Role, &m.JoinedID, &m.ReadID, &m.Muted, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return SendCheck{}, nil
	}
	if err != nil {
		return SendCheck{}, fmt.Errorf("check send: %w", err)
	}
	return SendCheck{Member: m, IsMember: true, SentID: sent.Int64}, nil
}

const msgColumns = "id, group_id, sender, body, client_id, created_at, recalled"

func scanMsg(r interface{ Scan(...any) error }) (Message, error) {
	var m Message
	err := r.Scan(&m.ID, &m.GroupID, &m.From, &m.Text, &m.ClientID, &m.Ts, &m.Recalled)
	return m, err
}

func (s *sqlStore) Message(ctx context.Context, id int64) (Message, bool, error) {
	m, err := scanMsg(s.db.QueryRowContext(ctx, "SELECT "+msgColumns+" FROM im_group_messages WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("group message: %w", err)
	}
	return m, true, nil
}

func (s *sqlStore) Messages(ctx context.Context, ids []int64) (map[int64]Message, error) {
	out, err := sqlstore.ByID(ctx, s.db.DB, "SELECT "+msgColumns+" FROM im_group_messages WHERE id IN", ids, func(r *sql.Rows) (int64, Message, error) {
		m, err := scanMsg(r)
		return m.ID, m, err
	})
	if err != nil {
		return nil, fmt.Errorf("group messages: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Recent(ctx context.Context, group int64, limit int) ([]Message, error) {
	return s.history(ctx, s.db.DB, group, 0, math.MaxInt64, limit)
}

func (s *sqlStore) History(ctx context.Context, group, after, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	return s.history(ctx, s.db.Reader(), group, after, before, limit)
}

func (s *sqlStore) history(ctx context.Context, db sqlstore.Querier, group, after, before int64, limit int) ([]Message, error) {
	out := []Message{}
	err := sqlstore.Each(ctx, db, "SELECT "+msgColumns+` FROM im_group_messages
		WHERE group_id = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?`, []any{group, after, before, limit},
		func(r *sql.Rows) error {
			m, err := scanMsg(r)
			out = append(out, m)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("group history: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Unread(ctx context.Context, group, uid, readID int64, max int) (int, error) {
	var n int
	err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM im_group_messages
		WHERE group_id = ? AND id > ? AND sender <> ? LIMIT ?) t`, group, readID, uid, max).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("group unread: %w", err)
	}
	return n, nil
}

func (s *sqlStore) Groups(ctx context.Context, uid, m, g int64, limit int) ([]Member, []Group, error) {
	if m == 0 && g == 0 {
		m, g = math.MaxInt64, math.MaxInt64
	}
	var ms []Member
	var gs []Group
	err := sqlstore.Each(ctx, s.db.Reader(), `SELECT m.group_id, m.uid, m.role, m.joined_id, m.read_id, m.muted,
		g.id, g.owner, g.name, g.members, g.created_at, g.last_id, g.mtime
		FROM im_group_members m JOIN im_groups g ON g.id = m.group_id
		WHERE m.uid = ? AND (g.mtime < ? OR (g.mtime = ? AND g.id < ?)) ORDER BY g.mtime DESC, g.id DESC LIMIT ?`,
		[]any{uid, m, m, g, limit}, func(r *sql.Rows) error {
			var mb Member
			var gr Group
			err := r.Scan(&mb.GroupID, &mb.UID, &mb.Role, &mb.JoinedID, &mb.ReadID, &mb.Muted,
				&gr.ID, &gr.Owner, &gr.Name, &gr.Members, &gr.CreatedAt, &gr.LastID, &gr.Mtime)
			ms, gs = append(ms, mb), append(gs, gr)
			return err
		})
	if err != nil {
		return nil, nil, fmt.Errorf("groups: %w", err)
	}
	return ms, gs, nil
}

func (s *sqlStore) MarkRead(ctx context.Context, group, uid, upto int64) (Member, error) {
	var out Member
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, "SELECT last_id FROM im_groups WHERE id = ?", group).Scan(&last); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNoGroup
			}
			return fmt.Errorf("mark read: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE im_group_members SET read_id = ? WHERE group_id = ? AND uid = ? AND read_id < ?",
			min(upto, last), group, uid, min(upto, last)); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		m, err := scanMember(tx.QueryRowContext(ctx, "SELECT "+memberColumns+" FROM im_group_members WHERE group_id = ? AND uid = ?", group, uid))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotMember
		}
		out = m
		return err
	})
	return out, err
}

func (s *sqlStore) Recall(ctx context.Context, uid, id, notBefore int64) (Message, error) {
	var out Message
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		m, err := scanMsg(tx.QueryRowContext(ctx, "SELECT "+msgColumns+" FROM im_group_messages WHERE id = ? AND sender = ?", id, uid))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMessage
		}
		if err != nil {
			return fmt.Errorf("recall: %w", err)
		}
		if !m.Recalled {
			if m.Ts < notBefore {
				return ErrRecallLate
			}
			if _, err := tx.ExecContext(ctx, "UPDATE im_group_messages SET recalled = 1, body = '' WHERE id = ?", id); err != nil {
				return fmt.Errorf("recall: %w", err)
			}
			m.Recalled, m.Text = true, ""
		}
		out = m
		return nil
	})
	return out, err
}
