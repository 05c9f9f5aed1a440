package gift

import (
	"context"
	"fmt"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

// Rank is a room's top senders and its anchor's total score.
type Rank struct {
	Items       []RankEntry `json:"items"`
	AnchorScore int64       `json:"anchor_score"`
}

// Rank returns the top senders of roomID, at most limit of them (0 or more than rank_size
// means rank_size), with their names, and the score of the room's anchor. Scores lag orders by
// up to one aggregation window; a hot room's rank is served from memory for at most
// hot_cache_ttl more. Unknown names degrade to empty ones.
func (s *Service) Rank(ctx context.Context, roomID int64, limit int) (Rank, error) {
	if limit <= 0 || limit > s.cfg.RankSize {
		limit = s.cfg.RankSize
	}
	key := strconv.FormatInt(roomID, 10)
	if s.hot != nil && !s.rankKeys.IsHot(key) && s.hot.IsHot(roomID, s.cfg.HotThreshold) {
		s.rankKeys.Pin(key, time.Now().Add(hotPinFor)) // re-pinned at a read after it ends if still hot
	}
	full, err := s.ranks.Get(ctx, key)
	if err != nil {
		return Rank{}, err
	}
	out := Rank{Items: full.Items[:min(limit, len(full.Items))], AnchorScore: full.AnchorScore}
	return out, nil
}

// RankOf implements Client: Rank of a room the caller has already read, so a rank not in
// memory is loaded without reading the room again.
func (s *Service) RankOf(ctx context.Context, r room.Room, limit int) (Rank, error) {
	if r.OwnerUID > 0 {
		s.owners.Add(r.ID, r.OwnerUID)
	}
	return s.Rank(ctx, r.ID, limit)
}

// hotPinFor is how long a rank read of a hot room keeps its key pinned in the detector.
const hotPinFor = time.Minute

// maxOwners bounds the room → owner memory of rank loads.
const maxOwners = 100_000

// owner returns the owner of roomID: remembered (a room's owner never changes) from a RankOf
// caller or an earlier load, else read from the room component.
func (s *Service) owner(ctx context.Context, roomID int64) (int64, error) {
	if uid, ok := s.owners.Get(roomID); ok {
		return uid, nil
	}
	r, err := s.rooms.Get(ctx, roomID)
	if err != nil {
		return 0, fmt.Errorf("get room %d: %w", roomID, err)
	}
	s.owners.Add(roomID, r.OwnerUID)
	return r.OwnerUID, nil
}

// initRanks builds the rank read path: a detector of hot rooms and a cache of their ranks.
func (s *Service) initRanks() error {
	cfg := s.cfg.HotKeys
	cfg.Name, cfg.Namespace, cfg.Registerer = "gift_rank", "zhibo", s.reg
	det, err := hotkey.New(cfg)
	if err != nil {
		return fmt.Errorf("gift: hot keys: %w", err)
	}
	s.rankKeys = det
	if s.owners, err = lru.New[int64, int64](maxOwners); err != nil {
		return err
	}
	s.ranks, err = hotkey.NewCache(det, hotkey.CacheConfig{TTL: s.cfg.HotCacheTTL, Name: "gift_rank"},
		func(ctx context.Context, key string) (Rank, error) {
			id, err := strconv.ParseInt(key, 10, 64)
			if err != nil {
				return Rank{}, err
			}
			return s.loadRank(ctx, id)
		})
	return err
}

// invalidateRanks drops the ranks of rooms whose scores a flush of this process changed from
// its rank cache; other processes' copies end within hot_cache_ttl.
func (s *Service) invalidateRanks(rooms []int64) {
	keys := make([]string, len(rooms))
	for i, id := range rooms {
		keys[i] = strconv.FormatInt(id, 10)
	}
	s.ranks.Invalidate(keys...)
}

// RankKeys is the detector of hot rank reads (for /api/admin/hot).
func (s *Service) RankKeys() *hotkey.Detector { return s.rankKeys }

// loadRank reads a room's full rank from the store.
func (s *Service) loadRank(ctx context.Context, roomID int64) (Rank, error) {
	limit := s.cfg.RankSize
	ownerUID, err := s.owner(ctx, roomID)
	if err != nil {
		return Rank{}, err
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
	if ownerUID > 0 {
		if out.AnchorScore, err = s.store.AnchorScore(ctx, ownerUID); err != nil {
			return Rank{}, err
		}
	}
	return out, nil
}
