package danmaku

import (
	"context"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

// maxMutesListed caps one listing of a room's mutes.
const maxMutesListed = 1000

// MutedUser is one mute as shown to the room's owner. Since is unix milliseconds.
type MutedUser struct {
	UID   int64  `json:"uid"`
	Uname string `json:"uname"`
	Since int64  `json:"since"`
}

// Mute stops uid from sending comments in roomID. Only the room's owner (operatorUID) may,
// and not on themselves. Muting someone already muted changes nothing and returns the
// existing mute.
func (s *Service) Mute(ctx context.Context, roomID, operatorUID, uid int64) (MutedUser, error) {
	rm, err := s.ownedRoom(ctx, roomID, operatorUID)
	if err != nil {
		return MutedUser{}, err
	}
	return s.mute(ctx, rm, uid)
}

func (s *Service) mute(ctx context.Context, rm room.Room, uid int64) (MutedUser, error) {
	if uid <= 0 {
		return MutedUser{}, ErrBadInput.Withf("uid must be a positive integer")
	}
	if uid == rm.OwnerUID {
		return MutedUser{}, ErrMuteSelf
	}
	u, err := s.accounts.User(ctx, uid)
	if isNotFound(err) {
		return MutedUser{}, ErrUserNotFound.Withf("user %d not found", uid)
	}
	if err != nil {
		return MutedUser{}, peerError("get user", err)
	}
	m, err := s.store.Mute(ctx, Mute{RoomID: rm.ID, UID: uid, ByUID: rm.OwnerUID, Since: s.now().UnixMilli()})
	if err != nil {
		return MutedUser{}, err
	}
	s.mutesChanged(rm.ID)
	s.log.InfoContext(ctx, "user muted", "room_id", rm.ID, "uid", uid, "by_uid", rm.OwnerUID)
	return MutedUser{UID: uid, Uname: u.Name, Since: m.Since}, nil
}

// Unmute lets uid send comments in roomID again and reports whether a mute was lifted. Only
// the room's owner may; unmuting someone not muted changes nothing.
func (s *Service) Unmute(ctx context.Context, roomID, operatorUID, uid int64) (bool, error) {
	if _, err := s.ownedRoom(ctx, roomID, operatorUID); err != nil {
		return false, err
	}
	if uid <= 0 {
		return false, ErrBadInput.Withf("uid must be a positive integer")
	}
	removed, err := s.store.Unmute(ctx, roomID, uid)
	if err != nil {
		return false, err
	}
	s.mutesChanged(roomID)
	if removed {
		s.log.InfoContext(ctx, "user unmuted", "room_id", roomID, "uid", uid, "by_uid", operatorUID)
	}
	return removed, nil
}

// Mutes lists the users muted in roomID, newest first, at most limit (limit <= 0 or over
// 1000 means 1000). Only the room's owner may. Names are decoration: when the account
// component cannot answer they are left empty rather than failing the list.
func (s *Service) Mutes(ctx context.Context, roomID, operatorUID int64, limit int) ([]MutedUser, error) {
	if _, err := s.ownedRoom(ctx, roomID, operatorUID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > maxMutesListed {
		limit = maxMutesListed
	}
	ms, err := s.store.Mutes(ctx, roomID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]MutedUser, len(ms))
	uids := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = MutedUser{UID: m.UID, Since: m.Since}
		uids[i] = m.UID
	}
	if len(uids) == 0 {
		return out, nil
	}
	names, err := s.accounts.Names(ctx, uids)
	if err != nil {
		s.log.WarnContext(ctx, "mute list without names", "room_id", roomID, "err", err)
		return out, nil
	}
	for i := range out {
		out[i].Uname = names[out[i].UID]
	}
	return out, nil
}

// initMutes builds the mute check's read path: a hot room's muted users are read whole from
// the store once per danmaku.mute_cache_ttl and served from memory (concurrent senders share
// one read), so a busy room's comments cost no query each; other rooms read the store.
func (s *Service) initMutes(reg prometheus.Registerer) error {
	if s.cfg.MuteCacheTTL == 0 {
		return nil
	}
	cfg := s.cfg.HotKeys
	cfg.Name, cfg.Namespace, cfg.Registerer = "danmaku_mutes", "zhibo", reg
	det, err := hotkey.New(cfg)
	if err != nil {
		return fmt.Errorf("danmaku: hot keys: %w", err)
	}
	s.muteKeys = det
	s.mutes, err = hotkey.NewCache(det, hotkey.CacheConfig{TTL: s.cfg.MuteCacheTTL, Name: "danmaku_mutes"},
		func(ctx context.Context, key string) (map[int64]struct{}, error) {
			id, err := strconv.ParseInt(key, 10, 64)
			if err != nil {
				return nil, err
			}
			uids, err := s.store.MutedUIDs(ctx, id)
			if err != nil {
				return nil, err
			}
			set := make(map[int64]struct{}, len(uids))
			for _, u := range uids {
				set[u] = struct{}{}
			}
			return set, nil
		})
	if err != nil {
		return fmt.Errorf("danmaku: mute cache: %w", err)
	}
	return nil
}

// MuteKeys is the detector of rooms whose mute checks are hot (for /api/admin/hot); nil when
// danmaku.mute_cache_ttl is 0.
func (s *Service) MuteKeys() *hotkey.Detector { return s.muteKeys }

// IsMuted reports whether uid is muted in roomID: from memory for a hot room when
// danmaku.mute_cache_ttl is set, else by a lookup in the store.
func (s *Service) IsMuted(ctx context.Context, roomID, uid int64) (bool, error) {
	if s.mutes == nil {
		return s.store.IsMuted(ctx, roomID, uid)
	}
	key := strconv.FormatInt(roomID, 10)
	if !s.muteKeys.IsHot(key) {
		// A cold room: one indexed lookup instead of loading its whole muted set through
		// the cache; the read still counts toward the room turning hot.
		s.muteKeys.Add(key, 1)
		return s.store.IsMuted(ctx, roomID, uid)
	}
	set, err := s.mutes.Get(ctx, key)
	if err != nil {
		return false, err
	}
	_, ok := set[uid]
	return ok, nil
}

// mutesChanged drops the room's cached muted users after a mute or unmute here; other
// processes see the change within danmaku.mute_cache_ttl.
func (s *Service) mutesChanged(roomID int64) {
	if s.mutes != nil {
		s.mutes.Invalidate(strconv.FormatInt(roomID, 10))
	}
}

// ownedRoom returns the room when operatorUID owns it: 401 without an operator, the room's
// 404 when it does not exist, ErrNotOwner otherwise.
func (s *Service) ownedRoom(ctx context.Context, roomID, operatorUID int64) (room.Room, error) {
	if operatorUID <= 0 {
		return room.Room{}, apierr.Unauthorized
	}
	rm, err := s.getRoom(ctx, roomID)
	if err != nil {
		return room.Room{}, err
	}
	if rm.OwnerUID != operatorUID {
		return room.Room{}, fmt.Errorf("room %d: %w", roomID, ErrNotOwner)
	}
	return rm, nil
}
