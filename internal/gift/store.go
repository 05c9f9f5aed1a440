package gift

import (
	"context"
	"database/sql"
)

// Order is a recorded gift purchase. It is also the body of the order event on the queue.
type Order struct {
	ID        int64  `json:"id"`
	RoomID    int64  `json:"room_id"`
	UID       int64  `json:"uid"`
	AnchorUID int64  `json:"anchor_uid"` // the room owner when the gift was sent
	GiftID    int64  `json:"gift_id"`
	GiftName  string `json:"gift_name"`
	CoinType  string `json:"coin_type"`
	Num       int64  `json:"num"`
	Price     int64  `json:"price"`      // per unit
	Total     int64  `json:"total"`      // Price × Num, the coins debited
	Balance   int64  `json:"balance"`    // the sender's balance right after this order
	CreatedAt int64  `json:"created_at"` // unix ms
	Key       string `json:"-"`          // the client's idempotency key
}

// sameRequest reports whether o and p ask for the same purchase, the test a retry with the
// same idempotency key must pass.
func (o Order) sameRequest(p Order) bool {
	return o.RoomID == p.RoomID && o.GiftID == p.GiftID && o.Num == p.Num
}

// RankEntry is one sender of a room's rank.
type RankEntry struct {
	UID   int64  `json:"uid"`
	Uname string `json:"uname"`
	Score int64  `json:"score"`
}

// flushResult says what one aggregation flush wrote.
type flushResult struct {
	Orders int // orders counted for the first time
	Rows   int // score rows written (anchor scores + rank entries)
	// Rooms are the rooms whose rank (and anchor score) changed, in id order.
	Rooms []int64
}

// Store keeps wallets, orders and scores.
type Store interface {
	// Migrate creates or upgrades the tables.
	Migrate(ctx context.Context) error
	// Balance returns uid's balance, creating the wallet with the initial balance on first use.
	Balance(ctx context.Context, uid int64) (int64, error)
	// PlaceOrder debits o.Total from o.UID and records o in one transaction, keyed by
	// (o.UID, o.Key). When that key already has an order for the same request it returns that
	// order with replayed=true and debits nothing; for a different request ErrKeyReused; when
	// the balance is short ErrInsufficient, and nothing is written.
	PlaceOrder(ctx context.Context, o Order) (stored Order, replayed bool, err error)
	// Credit adds c.Amount to c.UID's wallet and records c in the audit log in one transaction,
	// keyed by c.Key across every credit. When the key already has a credit for the same request
	// it returns that credit with replayed=true and credits nothing; for a different request
	// ErrKeyReused; past MaxBalance ErrBalanceLimit, and nothing is written.
	Credit(ctx context.Context, c Credit) (stored Credit, replayed bool, err error)
	// Credits lists the audit log newest first: ids below before (0 = from the newest), of uid
	// only when uid > 0, at most limit.
	Credits(ctx context.Context, uid, before int64, limit int) ([]Credit, error)
	// Unpublished lists orders created before beforeMs whose event is not known to be
	// published, oldest first.
	Unpublished(ctx context.Context, beforeMs int64, limit int) ([]Order, error)
	// MarkPublished records that the events of the given orders are on the queue.
	MarkPublished(ctx context.Context, ids []int64) error
	// ApplyScores adds the totals of the given orders not yet counted to their anchors' scores
	// and rooms' ranks, marks them counted and records seq as consumer's highest applied
	// stream sequence — all in one transaction, so an order counts exactly once.
	ApplyScores(ctx context.Context, consumer string, seq uint64, orderIDs []int64, nowMs int64) (flushResult, error)
	// ApplyScoresTx is ApplyScores within tx, which the caller commits (the aggregation
	// commits it before acknowledging the events).
	ApplyScoresTx(ctx context.Context, tx *sql.Tx, consumer string, seq uint64, orderIDs []int64, nowMs int64) (flushResult, error)
	// AppliedSeq is consumer's highest applied stream sequence (0 when none).
	AppliedSeq(ctx context.Context, consumer string) (uint64, error)
	// Rank returns the top senders of a room, highest score first (unames empty).
	Rank(ctx context.Context, roomID int64, limit int) ([]RankEntry, error)
	// AnchorScore is the total an anchor has received.
	AnchorScore(ctx context.Context, anchorUID int64) (int64, error)
}
