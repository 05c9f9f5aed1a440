package gift

import (
	"context"
	"fmt"
)

// Rank is a room's top senders and its anchor's total score.
type Rank struct {
	Items       []RankEntry `json:"items"`
	AnchorScore int64       `json:"anchor_score"`
}

// Rank returns the top senders of roomID, at most limit of them (0 or more than rank_size
// means rank_size), with their names, and the score of the room's anchor. Scores lag orders by
// up to one aggregation window. Unknown names degrade to empty ones.
func (s *Service) Rank(ctx context.Context, roomID int64, limit int) (Rank, error) {
	r, err := s.rooms.Get(ctx, roomID)
	if err != nil {
		return Rank{}, fmt.Errorf("get room %d: %w", roomID, err)
	}
	if limit <= 0 || limit > s.cfg.RankSize {
		limit = s.cfg.RankSize
	}
	items, err := s.store.Rank(ctx, roomID, limit)
	if err != nil {
		return Rank{}, err
	}
	if len(items) > 0 {
		uids := make([]int64, len(items))
		for i, it := range items {
			uids[i] = it.UID
		}
		names, err := s.accounts.Names(ctx, uids)
		if err != nil {
			s.log.WarnContext(ctx, "gift rank names unavailable", "room_id", roomID, "err", err)
		}
		for i := range items {
			items[i].Uname = names[items[i].UID]
		}
	}
	out := Rank{Items: items}
	if r.OwnerUID > 0 {
		if out.AnchorScore, err = s.store.AnchorScore(ctx, r.OwnerUID); err != nil {
			return Rank{}, err
		}
	}
	return out, nil
}
