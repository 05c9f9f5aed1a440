package account

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
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
}}

// expMigration is valid on both engines; the index serves the pruning of old ids.
var expMigration = "ALTER TABLE users ADD COLUMN exp BIGINT NOT NULL DEFAULT 0;\n" +
	aggregate.AppliedIDsSchema(expAppliedTable) + ";\n" +
	"CREATE INDEX " + expAppliedTable + "_at ON " + expAppliedTable + " (applied_at)"

type sqlStore struct{ db *sqlstore.DB }

// NewSQLStore migrates and returns the SQL store of accounts.
func NewSQLStore(ctx context.Context, db *sqlstore.DB) (Store, error) {
	if err := db.Migrate(ctx, "account", migrations); err != nil {
		return nil, err
	}
	return &sqlStore{db: db}, nil
}

// nameKey is the case-insensitive identity of a name: "Alice" and "alice" are one user.
func nameKey(name string) string { return strings.ToLower(name) }

func (s *sqlStore) Create(ctx context.Context, name, hash string, now int64) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		"INSERT INTO users (name, name_key, password_hash, created_at) VALUES (?, ?, ?, ?)",
		name, nameKey(name), hash, now)
	if sqlstore.IsDuplicate(err) {
		return 0, ErrNameTaken
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *sqlStore) ByName(ctx context.Context, name string) (User, string, error) {
	var u User
	var hash string
	err := s.db.QueryRowContext(ctx,
		"SELECT id, name, password_hash, created_at FROM users WHERE name_key = ?", nameKey(name)).
		Scan(&u.UID, &u.Name, &hash, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", ErrUserNotFound
	}
	return u, hash, err
}

func (s *sqlStore) ByIDs(ctx context.Context, ids []int64) ([]User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := "SELECT id, name, created_at FROM users WHERE id IN (" +
		strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.UID, &u.Name, &u.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
