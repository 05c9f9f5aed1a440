package gift

import "github.com/zhibo-live/zhibo/internal/platform/sqlstore"

// migrations of the gift tables. Times are unix ms. On MySQL the idempotency key is
// ascii_bin so that keys differing only in case stay distinct.
var migrations = []sqlstore.Migration{{
	Version: 1,
	Name:    "wallets, orders, scores",
	SQLite: `CREATE TABLE gift_wallets (
	uid BIGINT PRIMARY KEY,
	balance BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE gift_orders (
	id BIGINT PRIMARY KEY,
	uid BIGINT NOT NULL,
	idem_key VARCHAR(64) NOT NULL,
	room_id BIGINT NOT NULL,
	anchor_uid BIGINT NOT NULL,
	gift_id BIGINT NOT NULL,
	gift_name VARCHAR(64) NOT NULL,
	coin_type VARCHAR(8) NOT NULL,
	num BIGINT NOT NULL,
	price BIGINT NOT NULL,
	total BIGINT NOT NULL,
	balance BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	published INTEGER NOT NULL DEFAULT 0,
	scored INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX gift_orders_by_key ON gift_orders (uid, idem_key);
CREATE INDEX gift_orders_unpublished ON gift_orders (published, id);
CREATE TABLE gift_anchor_scores (
	anchor_uid BIGINT PRIMARY KEY,
	score BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE gift_rank (
	room_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	score BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (room_id, uid)
);
CREATE INDEX gift_rank_by_score ON gift_rank (room_id, score);
CREATE TABLE gift_agg_offsets (
	consumer VARCHAR(64) PRIMARY KEY,
	seq BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);`,
	MySQL: `CREATE TABLE gift_wallets (
	uid BIGINT NOT NULL PRIMARY KEY,
	balance BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE gift_orders (
	id BIGINT NOT NULL PRIMARY KEY,
	uid BIGINT NOT NULL,
	idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	room_id BIGINT NOT NULL,
	anchor_uid BIGINT NOT NULL,
	gift_id BIGINT NOT NULL,
	gift_name VARCHAR(64) NOT NULL,
	coin_type VARCHAR(8) NOT NULL,
	num BIGINT NOT NULL,
	price BIGINT NOT NULL,
	total BIGINT NOT NULL,
	balance BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	published TINYINT NOT NULL DEFAULT 0,
	scored TINYINT NOT NULL DEFAULT 0,
	UNIQUE KEY gift_orders_by_key (uid, idem_key),
	KEY gift_orders_unpublished (published, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE gift_anchor_scores (
	anchor_uid BIGINT NOT NULL PRIMARY KEY,
	score BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE gift_rank (
	room_id BIGINT NOT NULL,
	uid BIGINT NOT NULL,
	score BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (room_id, uid),
	KEY gift_rank_by_score (room_id, score)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE gift_agg_offsets (
	consumer VARCHAR(64) NOT NULL PRIMARY KEY,
	seq BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`,
}, {
	Version: 2,
	Name:    "wallet credits: the audit log of every coin that entered a wallet",
	SQLite: `CREATE TABLE gift_wallet_credits (
	id BIGINT PRIMARY KEY,
	uid BIGINT NOT NULL,
	amount BIGINT NOT NULL,
	balance BIGINT NOT NULL,
	actor_uid BIGINT NOT NULL,
	reason VARCHAR(200) NOT NULL,
	idem_key VARCHAR(64) NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX gift_wallet_credits_by_key ON gift_wallet_credits (idem_key);
CREATE INDEX gift_wallet_credits_by_uid ON gift_wallet_credits (uid, id);`,
	MySQL: `CREATE TABLE gift_wallet_credits (
	id BIGINT NOT NULL PRIMARY KEY,
	uid BIGINT NOT NULL,
	amount BIGINT NOT NULL,
	balance BIGINT NOT NULL,
	actor_uid BIGINT NOT NULL,
	reason VARCHAR(200) NOT NULL,
	idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE KEY gift_wallet_credits_by_key (idem_key),
	KEY gift_wallet_credits_by_uid (uid, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`,
}}

// Migrations are the gift tables' schema steps, for zhibo migrate.
func Migrations() []sqlstore.Migration { return migrations }
