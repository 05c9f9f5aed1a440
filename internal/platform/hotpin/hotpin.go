// Package hotpin shares, across a cluster, what is hot: the rooms and keys an operator pinned
// hot ahead of an event, and the online counts of the most watched rooms. It is a key-value
// bucket on the queue with three kinds of keys:
//
//   - room.<id>: a room pinned hot until a time, whatever its audience;
//   - key.<encoded key>: a cache key pinned hot (see Caches for what a key names);
//   - counts: the online counts of the CountsSize most watched live rooms, written by the one
//     room process holding the list-order lease at every refresh, valid for a while so that
//     counts nobody refreshes any more are forgotten.
//
// Every entry carries its end (a pin's until, the counts' valid-until): a watcher is told an
// entry is gone when it ends, by its own clock, as when it is deleted. The bucket itself keeps
// an entry MaxPin after its last write. (Per-key lifetimes in the server would need NATS 2.11;
// this works with the JetStream servers of older releases too.)
// Every process watches the bucket and feeds its own hotroom.Tracker and hot-key detectors, so
// a pin made through the admin API of one process makes every process treat the room as hot.
package hotpin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Bucket is the key-value bucket (within the queue namespace).
const Bucket = "hot_pins"

// MaxPin bounds how long ahead a room or key may be pinned hot.
const MaxPin = 7 * 24 * time.Hour

// CountsSize is how many rooms the shared counts carry, the most watched first: a room below
// them is not hot at any threshold a caller would pick.
const CountsSize = 1000

// Caches are the names a pinned key may start with ("<cache>:<key>") and what each pins:
//
//   - room:<id> — the room's record in the room component's hot-read cache (the same key its
//     hot-key detector counts);
//   - gift_rank:<room id> — the room's gift rank in the gift component's rank cache;
//   - danmaku_mutes:<room id> — the room's mute list in the danmaku component's mute cache.
//
// A key pin keeps that entry in the memory of every process running the component, as if its
// detector had found it hot, until the pin ends.
var Caches = []string{"room", "gift_rank", "danmaku_mutes"}

// ErrBadKey is returned for a key that names no cache of Caches or is malformed.
var ErrBadKey = errors.New(`hot key must be "<cache>:<id>" with cache one of room, gift_rank, danmaku_mutes and a positive id`)

// SplitKey checks a pinnable key and returns its cache and the id after the colon.
func SplitKey(key string) (cache string, id int64, err error) {
	cache, rest, ok := strings.Cut(key, ":")
	if !ok || !slices.Contains(Caches, cache) {
		return "", 0, ErrBadKey
	}
	id, err = strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return "", 0, ErrBadKey
	}
	return cache, id, nil
}

// Pin is one pin as stored: Room for a room pin, Key for a key pin.
type Pin struct {
	Room   int64     `json:"room,omitempty"`
	Key    string    `json:"key,omitempty"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Table reads and writes the bucket.
type Table struct {
	kv  jetstream.KeyValue
	log *slog.Logger
	now func() time.Time
}

// Open creates the bucket if needed; now is the clock pins are judged by (nil = time.Now).
func Open(ctx context.Context, q *queue.Queue, log *slog.Logger, now func() time.Time) (*Table, error) {
	kv, err := q.EnsureKV(ctx, queue.KVSpec{Name: Bucket, TTL: MaxPin + time.Hour})
	if err != nil {
		return nil, fmt.Errorf("hotpin: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Table{kv: kv, log: log, now: now}, nil
}

func roomKey(id int64) string { return "room." + strconv.FormatInt(id, 10) }

// keyKey encodes a cache key into the characters a bucket key allows.
func keyKey(key string) string { return "key." + base64.RawURLEncoding.EncodeToString([]byte(key)) }

const countsKey = "counts"

// PinRoom pins room hot until until, replacing an earlier pin.
func (t *Table) PinRoom(ctx context.Context, room int64, until time.Time, reason string) error {
	return t.put(ctx, roomKey(room), Pin{Room: room, Until: until, Reason: reason})
}

// PinKey pins a cache key (SplitKey checks it) hot until until, replacing an earlier pin.
func (t *Table) PinKey(ctx context.Context, key string, until time.Time, reason string) error {
	if _, _, err := SplitKey(key); err != nil {
		return err
	}
	return t.put(ctx, keyKey(key), Pin{Key: key, Until: until, Reason: reason})
}

// UnpinRoom removes room's pin.
func (t *Table) UnpinRoom(ctx context.Context, room int64) error { return t.del(ctx, roomKey(room)) }

// UnpinKey removes key's pin.
func (t *Table) UnpinKey(ctx context.Context, key string) error { return t.del(ctx, keyKey(key)) }

// put writes a pin; watchers are told it is gone at its until.
func (t *Table) put(ctx context.Context, k string, p Pin) error {
	ttl := p.Until.Sub(t.now())
	if ttl <= 0 || ttl > MaxPin+time.Minute {
		return fmt.Errorf("hotpin: until must be within %s from now", MaxPin)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return t.write(ctx, k, b)
}

func (t *Table) write(ctx context.Context, key string, value []byte) error {
	if _, err := t.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("hotpin: %s: %w", key, err)
	}
	return nil
}

func (t *Table) del(ctx context.Context, k string) error {
	if err := t.kv.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("hotpin: %s: %w", k, err)
	}
	return nil
}

// PutCounts stores the online counts of the CountsSize most watched rooms of counts, valid for
// ttl: if no newer counts are written by then (the writer stopped), every watcher is told the
// counts are gone.
func (t *Table) PutCounts(ctx context.Context, counts map[int64]int64, ttl time.Duration) error {
	ids := make([]int64, 0, len(counts))
	for id, n := range counts {
		if n > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int64) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		return int(a - b)
	})
	top := make(map[string]int64, min(len(ids), CountsSize))
	for _, id := range ids[:min(len(ids), CountsSize)] {
		top[strconv.FormatInt(id, 10)] = counts[id]
	}
	b, err := json.Marshal(countsValue{Until: t.now().Add(max(time.Second, ttl)), Rooms: top})
	if err != nil {
		return err
	}
	return t.write(ctx, countsKey, b)
}

// countsValue is the counts entry: the counts of the most watched rooms, by room id.
type countsValue struct {
	Until time.Time        `json:"until"`
	Rooms map[string]int64 `json:"rooms"`
}

// Event is one change seen by Watch: a pin set (Pin), a pin gone (Gone, with Pin.Room or
// Pin.Key naming what was unpinned: deleted, or past its until), or new counts (Counts
// non-nil; empty when the counts are gone).
type Event struct {
	Pin    Pin
	Gone   bool
	Counts map[int64]int64
	until  time.Time // when the entry ends (zero: gone already)
}

// key is the bucket key an event is about.
func (e Event) key() string {
	switch {
	case e.Counts != nil:
		return countsKey
	case e.Pin.Room != 0:
		return roomKey(e.Pin.Room)
	default:
		return keyKey(e.Pin.Key)
	}
}

// gone is the event that says e's entry ended.
func (e Event) gone() Event {
	if e.Counts != nil {
		return Event{Counts: map[int64]int64{}}
	}
	return Event{Pin: Pin{Room: e.Pin.Room, Key: e.Pin.Key}, Gone: true}
}

// Watch sends every current entry and then every change to fn, on one goroutine, until ctx
// ends; ready is closed once the current entries have been sent. A malformed entry is logged
// and skipped.
func (t *Table) Watch(ctx context.Context, fn func(Event)) (ready <-chan struct{}, err error) {
	x := &expirer{ctx: ctx, fn: fn, now: t.now, gen: map[string]uint64{}}
	return queue.WatchKV(ctx, t.kv, "hotpin", t.log, decode, x.deliver)
}

// expirer hands entries to a watcher and tells it when each ends; calls to fn are serialised.
type expirer struct {
	ctx context.Context
	fn  func(Event)
	now func() time.Time

	mu  sync.Mutex
	gen map[string]uint64 // per key: bumped by each event, so an older end is not told
}

func (x *expirer) deliver(ev Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := ev.key()
	x.gen[k]++
	g := x.gen[k]
	left := ev.until.Sub(x.now())
	if !ev.until.IsZero() && left <= 0 {
		ev = ev.gone() // ended before it was seen
	}
	x.fn(ev)
	if ev.until.IsZero() || left <= 0 {
		return
	}
	time.AfterFunc(left, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.gen[k] != g || x.ctx.Err() != nil {
			return // replaced, deleted, or no longer watched
		}
		x.gen[k]++
		x.fn(ev.gone())
	})
}

func decode(e jetstream.KeyValueEntry) (Event, error) {
	k := e.Key()
	gone := e.Operation() != jetstream.KeyValuePut
	switch {
	case k == countsKey:
		if gone {
			return Event{Counts: map[int64]int64{}}, nil
		}
		var v countsValue
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return Event{}, err
		}
		c := make(map[int64]int64, len(v.Rooms))
		for s, n := range v.Rooms {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return Event{}, err
			}
			c[id] = n
		}
		return Event{Counts: c, until: v.Until}, nil
	case strings.HasPrefix(k, "room."):
		id, err := strconv.ParseInt(strings.TrimPrefix(k, "room."), 10, 64)
		if err != nil {
			return Event{}, err
		}
		if gone {
			return Event{Pin: Pin{Room: id}, Gone: true}, nil
		}
	case strings.HasPrefix(k, "key."):
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(k, "key."))
		if err != nil {
			return Event{}, err
		}
		if gone {
			return Event{Pin: Pin{Key: string(raw)}, Gone: true}, nil
		}
	default:
		return Event{}, fmt.Errorf("unknown key")
	}
	var p Pin
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return Event{}, err
	}
	return Event{Pin: p, until: p.Until}, nil
}
