package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/hotpin"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
	"github.com/zhibo-live/zhibo/pkg/hotroom"
)

// hotState is what the process knows of hot rooms and keys: one tracker that every local
// component asks with its own threshold, fed by the shared pins and counts (hotpin) when the
// process has a queue, and the key pins it applies to the local caches' detectors.
type hotState struct {
	tracker *hotroom.Tracker
	table   *hotpin.Table // nil without a queue: pins stay in this process
	cancel  context.CancelFunc

	mu   sync.Mutex
	keys map[string]hotpin.Pin // key pins in force, by key
}

// openHot builds the process's tracker and, with a queue, opens the shared pins.
func (a *App) openHot(ctx context.Context) error {
	a.hot = &hotState{tracker: hotroom.New(nil), keys: map[string]hotpin.Pin{}, cancel: func() {}}
	if !a.has("room") {
		room.ConfigPins(a.hot.tracker, a.cfg.Room.HotRooms) // the room component pins them itself
	}
	if a.q == nil {
		if a.has("bff") {
			a.log.Warn("bff: no queue here (queue.url unset): hot rooms are only those room.hot_rooms pins; pins and counts of the cluster are not seen")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	a.hot.table, err = hotpin.Open(ctx, a.q, a.logger("hotpin"), nil)
	return err
}

// hotPins is the shared pin table as room.Deps wants it (nil without a queue).
func (a *App) hotPins() room.Pins {
	if a.hot.table == nil {
		return nil
	}
	return a.hot.table
}

// watchHot applies the shared pins and counts to this process as they change, once the
// local components have started (their detectors exist); it returns when the current ones
// are applied.
func (a *App) watchHot(ctx context.Context) error {
	if a.Room != nil {
		a.Room.SetKeyPins(a.hot.keyPins)
	}
	if a.hot.table == nil {
		return nil
	}
	wctx, cancel := context.WithCancel(context.Background())
	a.hot.cancel = cancel
	ready, err := a.hot.table.Watch(wctx, a.applyHot)
	if err != nil {
		cancel()
		return err
	}
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("hot pins: %w", ctx.Err())
	}
}

// applyHot applies one change of the shared pins or counts.
func (a *App) applyHot(ev hotpin.Event) {
	switch {
	case ev.Counts != nil:
		a.hot.tracker.Update(ev.Counts)
		return
	case ev.Pin.Room != 0 && ev.Gone:
		// A pin from room.hot_rooms is the config's, not the shared table's.
		if p, ok := a.hot.tracker.Pinned(ev.Pin.Room); ok && !strings.HasPrefix(p.Reason, "config: ") {
			a.hot.tracker.Unpin(ev.Pin.Room)
		}
	case ev.Pin.Room != 0:
		a.hot.tracker.PinRoom(ev.Pin.Room, ev.Pin.Until, ev.Pin.Reason)
	case ev.Pin.Key != "":
		if err := a.applyKeyPin(ev.Pin, ev.Gone); err != nil {
			a.log.Warn("key pin not applied", "key", ev.Pin.Key, "err", err)
			return
		}
	}
	if a.BFF != nil {
		a.BFF.Warm()
	}
}

// applyKeyPin pins (or unpins) a key in the detector of the local cache it names
// (hotpin.Caches); a cache whose component does not run here is left alone.
func (a *App) applyKeyPin(p hotpin.Pin, gone bool) error {
	cache, id, err := hotpin.SplitKey(p.Key)
	if err != nil {
		return err
	}
	var det *hotkey.Detector
	key := strconv.FormatInt(id, 10)
	switch cache {
	case "room":
		if a.Room != nil {
			det, key = a.Room.HotKeys(), p.Key // the room detector counts "room:<id>"
		}
	case "gift_rank":
		if a.Gift != nil {
			det = a.Gift.RankKeys()
		}
	case "danmaku_mutes":
		if a.Danmaku != nil && a.Danmaku.MuteKeys() != nil { // nil: danmaku.mute_cache_ttl is 0
			det = a.Danmaku.MuteKeys()
		}
	default:
		return errors.New("no such cache")
	}
	a.hot.mu.Lock()
	if gone {
		delete(a.hot.keys, p.Key)
	} else {
		a.hot.keys[p.Key] = p
	}
	a.hot.mu.Unlock()
	if det == nil {
		return nil
	}
	if gone {
		det.Unpin(key)
	} else {
		det.Pin(key, p.Until)
	}
	return nil
}

// roomWritten, ranksChanged and commentStored tell a BFF of this process about writes its
// components took, so the pages it keeps show them at once.
func (a *App) roomWritten(id int64) {
	if a.BFF != nil {
		a.BFF.Invalidate(id)
	}
}

func (a *App) ranksChanged(rooms []int64) {
	if a.BFF != nil {
		a.BFF.Invalidate(rooms...)
	}
}

func (a *App) commentStored(c danmaku.Comment) {
	if a.BFF != nil {
		a.BFF.CommentAdded(c)
	}
}

// keyPins lists the key pins in force, by key.
func (h *hotState) keyPins() []hotpin.Pin {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	out := make([]hotpin.Pin, 0, len(h.keys))
	for _, p := range h.keys {
		if now.Before(p.Until) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b hotpin.Pin) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// stopHot ends the watch of the shared pins.
func (a *App) stopHot() {
	if a.hot != nil {
		a.hot.cancel()
	}
}
