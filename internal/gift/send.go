package gift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/room"
)

// SendRequest is one gift purchase: UID sends Num of GiftID to the anchor of RoomID.
type SendRequest struct {
	RoomID int64
	UID    int64
	GiftID int64
	Num    int64
	// Key is chosen by the client, unique per intended purchase: a retry with the same key
	// returns the first order and is never charged again.
	Key string
}

// Send validates req, debits the sender and records the order in one transaction, then
// publishes the order event, pushes SEND_GIFT to the room and tags the room. A retry with the
// same key returns the original order without side effects.
func (s *Service) Send(ctx context.Context, req SendRequest) (Order, error) {
	if req.UID <= 0 {
		return Order{}, ErrBadUID
	}
	live := s.live.Load()
	g, ok := live.catalog.byID[req.GiftID]
	if !ok {
		return Order{}, ErrUnknownGift.Withf("unknown gift %d", req.GiftID)
	}
	if req.Num < 1 || req.Num > live.maxNum {
		return Order{}, ErrBadNum.Withf("num must be an integer in [1, %d]", live.maxNum)
	}
	if !httpx.ValidIdempotencyKey(req.Key) {
		return Order{}, ErrBadKey
	}
	r, err := s.rooms.Get(ctx, req.RoomID)
	if err != nil {
		return Order{}, fmt.Errorf("get room %d: %w", req.RoomID, err)
	}
	if r.IsOff(room.SwitchGifts) {
		return Order{}, ErrGiftsOff
	}
	if r.OwnerUID <= 0 {
		return Order{}, ErrNoAnchor
	}
	if r.OwnerUID == req.UID {
		return Order{}, ErrSelfGift
	}
	id, err := s.ids.Next()
	if err != nil {
		return Order{}, fmt.Errorf("order id: %w", err)
	}
	o := Order{
		ID: id, RoomID: r.ID, UID: req.UID, AnchorUID: r.OwnerUID,
		GiftID: g.ID, GiftName: g.Name, CoinType: g.CoinType,
		Num: req.Num, Price: g.Price, Total: g.Price * req.Num,
		CreatedAt: time.Now().UnixMilli(), Key: req.Key,
	}
	stored, replayed, err := s.store.PlaceOrder(ctx, o)
	switch {
	case errors.Is(err, ErrInsufficient):
		s.m.orders.WithLabelValues(resultInsufficient).Inc()
		return Order{}, err
	case errors.Is(err, ErrKeyReused):
		s.m.orders.WithLabelValues(resultKeyReused).Inc()
		return Order{}, err
	case err != nil:
		return Order{}, apierr.From(fmt.Errorf("place order: %w", err)) // 503 when the store is unreachable
	case replayed:
		s.m.orders.WithLabelValues(resultReplayed).Inc()
		return stored, nil
	}
	s.m.orders.WithLabelValues(resultCreated).Inc()
	if stored.CoinType == CoinGold {
		s.m.goldSpent.Add(float64(stored.Total))
	}
	// The order is committed: what follows must not be cut short by the caller going away.
	side, cancel := context.WithTimeout(context.WithoutCancel(ctx), sideEffectBudget)
	defer cancel()
	s.publishCommitted(side, stored)
	s.pushGift(side, stored)
	s.tagRoom(side, r)
	return stored, nil
}

// publish stores o's event on the GIFT stream, then the sender's experience grant (+total,
// the order id as grant id); the order id de-duplicates re-publishes of both. Both belong to
// the outbox: the order is marked published only once both are stored, so the relay retries
// a grant that failed and the experience inherits the order's exactly-once (a copy that
// reaches the stream twice is claimed once by account's fold). A replayed send never gets
// here, so it grants nothing.
func (s *Service) publish(ctx context.Context, o Order) error {
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := s.q.Publish(ctx, s.q.Subject(SubjectPrefix+strconv.FormatInt(o.RoomID, 10)), data, strconv.FormatInt(o.ID, 10)); err != nil {
		return err
	}
	if s.exp != nil && o.Total > 0 {
		if err := s.exp.AddExp(ctx, o.UID, o.Total, o.ID); err != nil {
			return fmt.Errorf("experience of order %d: %w", o.ID, err)
		}
	}
	return nil
}

// publishCommitted publishes a fresh order and records that it is published. A failure is
// left to the outbox relay.
func (s *Service) publishCommitted(ctx context.Context, o Order) {
	if err := s.publish(ctx, o); err != nil {
		s.m.publishFails.Inc()
		s.log.WarnContext(ctx, "gift order publish failed, the relay will retry", "order_id", o.ID, "err", err)
		return
	}
	if err := s.store.MarkPublished(ctx, []int64{o.ID}); err != nil {
		s.log.WarnContext(ctx, "gift order publish not recorded, the relay will re-publish", "order_id", o.ID, "err", err)
	}
}

// pushGift broadcasts SEND_GIFT to the room. It is best effort: the order stands either way.
func (s *Service) pushGift(ctx context.Context, o Order) {
	uname := ""
	if names, err := s.accounts.Names(ctx, []int64{o.UID}); err != nil {
		s.log.WarnContext(ctx, "gift sender name unavailable", "uid", o.UID, "err", err)
	} else {
		uname = names[o.UID]
	}
	msg := protocol.Gift{
		GiftID: o.GiftID, GiftName: o.GiftName, Num: o.Num, UID: o.UID, Uname: uname,
		Price: o.Price, CoinType: o.CoinType, TotalCoin: o.Total,
		Timestamp: time.UnixMilli(o.CreatedAt), OrderID: o.ID,
	}.JSON()
	if err := s.pusher.PushRoom(ctx, o.RoomID, msg); err != nil {
		s.m.pushFails.Inc()
		s.log.WarnContext(ctx, "SEND_GIFT push failed", "room_id", o.RoomID, "order_id", o.ID, "err", err)
	}
}

// tagRoom marks the room as having a gift rank the first time it gets a gift. The set of
// tagged rooms lives in memory; after a restart a room is tagged again once, which is harmless.
func (s *Service) tagRoom(ctx context.Context, r room.Room) {
	s.tagMu.Lock()
	done := s.tagged[r.ID]
	s.tagMu.Unlock()
	if done {
		return
	}
	if !slices.Contains(r.Tags, RankTag) {
		if err := s.rooms.SetTag(ctx, r.ID, RankTag, true); err != nil {
			s.log.WarnContext(ctx, "gift rank tag not set, retrying on the next gift", "room_id", r.ID, "err", err)
			return
		}
	}
	s.tagMu.Lock()
	s.tagged[r.ID] = true
	s.tagMu.Unlock()
}
