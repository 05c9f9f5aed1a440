package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

var migrations = []sqlstore.Migration{{
	Version: 1, Name: "users",
	SQLite: `CREATE TABLE users (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name VARCHAR(32) NOT NULL,
	name_key VARCHAR(32) NOT NULL UNIQUE,
	password_hash VARCHAR(100) NOT NULL,
	created_at BIGINT NOT NULL)`,
	MySQL: `CREATE TABLE users (
	id BIGINT AUTO_INCREMENT PRIMARY KEY,
	name VARCHAR(32) NOT NULL,
	name_key VARCHAR(32) NOT NULL UNIQUE,
	password_hash VARCHAR(100) NOT NULL,
	created_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
}, {
	// Experience points, and the ids of the EXP events already folded into them.
	Version: 2, Name: "exp",
	SQLite: expMigration,
	MySQL:  expMigration,
}, {
	// Look-alike names and session revocation. name_skeleton is filled by backfillSkeletons
	// (the skeleton is Go code); NULL where an older user already holds the same skeleton, since
	// a UNIQUE index admits many NULLs.
	Version: 3, Name: "skeletons and sessions",
	SQLite: sessionsMigration(""),
	MySQL:  sessionsMigration(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
}, {
	// The follow graph and each user's follower and following counts (store_follow.go).
	Version: 4, Name: "follows",
	SQLite: followsMigration(""),
	MySQL:  followsMigration(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
}}

// expMigration is valid on both engines; the index serves the pruning of old ids.
var expMigration = "ALTER TABLE users ADD COLUMN exp BIGINT NOT NULL DEFAULT 0;\n" +
	aggregate.AppliedIDsSchema(expAppliedTable) + ";\n" +
	"CREATE INDEX " + expAppliedTable + "_at ON " + expAppliedTable + " (applied_at)"

// maxSkeletonLen is the width of name_skeleton: a 32-character name's skeleton is longer only
// when confusables expand (ligatures, some symbols), and such a name is refused.
const maxSkeletonLen = 128

func sessionsMigration(tableOpts string) string {
	return fmt.Sprintf("ALTER TABLE users ADD COLUMN name_skeleton VARCHAR(%d) NULL;\n", maxSkeletonLen) +
		"ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;\n" +
		"CREATE UNIQUE INDEX users_name_skeleton ON users (name_skeleton);\n" +
		"CREATE TABLE revoked_tokens (id VARCHAR(32) NOT NULL PRIMARY KEY, uid BIGINT NOT NULL, " +
		"expires_at BIGINT NOT NULL)" + tableOpts + ";\n" +
		"CREATE INDEX revoked_tokens_uid ON revoked_tokens (uid, expires_at);\n" +
		"CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at)"
}

type sqlStore struct {
	db        *sqlstore.DB
	lastPrune atomic.Int64 // unix s of the last pruning of revoked_tokens
}

// NewSQLStore migrates, gives skeletons to users without one, and returns the SQL store.
func NewSQLStore(ctx context.Context, db *sqlstore.DB, log *slog.Logger) (Store, error) {
	if err := db.Migrate(ctx, "account", migrations); err != nil {
		return nil, err
	}
	s := &sqlStore{db: db}
	if err := s.backfillSkeletons(ctx, log); err != nil {
		return nil, fmt.Errorf("backfill name skeletons: %w", err)
	}
	return s, nil
}

// nameKey is the case-insensitive identity of a name: "Alice" and "alice" are one user.
func nameKey(name string) string { return strings.ToLower(name) }

// backfillSkeletons fills name_skeleton of users created before it existed (or by a replica
// not yet upgraded), in id order. When two such users look alike the older keeps the skeleton
// and the newer stays NULL: both keep their accounts and logins, and a new look-alike of
// either is refused because the skeleton is held. It runs at every start; users left NULL
// are few and are retried cheaply.
func (s *sqlStore) backfillSkeletons(ctx context.Context, log *slog.Logger) error {
	var after int64
	for {
		rows, err := s.db.QueryContext(ctx,
			"SELECT id, name FROM users WHERE name_skeleton IS NULL AND id > ? ORDER BY id LIMIT 500", after)
		if err != nil {
			return err
		}
		type row struct {
			id   int64
			name string
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.name); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, r := range batch {
			after = r.id
			sk := textnorm.Skeleton(r.name)
			if len([]rune(sk)) > maxSkeletonLen {
				continue
			}
			_, err := s.db.ExecContext(ctx, "UPDATE users SET name_skeleton = ? WHERE id = ? AND name_skeleton IS NULL", sk, r.id)
			switch {
			case sqlstore.IsDuplicate(err):
				if log != nil {
					log.WarnContext(ctx, "user name looks like an older user's: both keep their accounts, new look-alikes are refused",
						"uid", r.id, "name", r.name)
				}
			case err != nil:
				return err
			}
		}
	}
}

func (s *sqlStore) NameTaken(ctx context.Context, key, skeleton string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM users WHERE name_key = ? OR name_skeleton = ?", key, skeleton).Scan(&n)
	return n > 0, err
}

func (s *sqlStore) Create(ctx context.Context, name, key, skeleton, hash string, now int64) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		"INSERT INTO users (name, name_key, name_skeleton, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
		name, key, skeleton, hash, now)
	if sqlstore.IsDuplicate(err) {
		return 0, ErrNameTaken
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

const credentialsCols = "SELECT id, name, created_at, password_hash, token_version FROM users "

func (s *sqlStore) ByName(ctx context.Context, key string) (Credentials, error) {
	return s.credentials(ctx, credentialsCols+"WHERE name_key = ?", key)
}

func (s *sqlStore) ByID(ctx context.Context, uid int64) (Credentials, error) {
	return s.credentials(ctx, credentialsCols+"WHERE id = ?", uid)
}

func (s *sqlStore) credentials(ctx context.Context, q string, arg any) (Credentials, error) {
	var c Credentials
	err := s.db.QueryRowContext(ctx, q, arg).Scan(&c.UID, &c.Name, &c.CreatedAt, &c.Hash, &c.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Credentials{}, ErrUserNotFound
	}
	return c, err
}

func (s *sqlStore) ByIDs(ctx context.Context, ids []int64) ([]User, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return s.usersWhereIn(ctx, "id", args)
}

func (s *sqlStore) ByNameKeys(ctx context.Context, keys []string) ([]User, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return s.usersWhereIn(ctx, "name_key", args)
}

// usersWhereIn reads the users whose column is one of values.
func (s *sqlStore) usersWhereIn(ctx context.Context, column string, values []any) ([]User, error) {
	if len(values) == 0 {
		return nil, nil
	}
	var out []User
	err := sqlstore.Each(ctx, s.db, "SELECT id, name, created_at FROM users WHERE "+column+" IN ("+sqlstore.Marks(len(values))+")", values,
		func(r *sql.Rows) error {
			var u User
			err := r.Scan(&u.UID, &u.Name, &u.CreatedAt)
			out = append(out, u)
			return err
		})
	return out, err
}

// Migrations are the account tables' schema steps, for zhibo migrate.
func Migrations() []sqlstore.Migration { return migrations }
