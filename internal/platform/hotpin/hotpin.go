// Package hotpin shares, across a cluster, what is hot: the rooms and keys an operator pinned
// hot ahead of an event, and the online counts of the most watched rooms. It is a key-value
// bucket on the queue with three kinds of keys:
//
//   - room.<id>: a room pinned hot until a time, whatever its audience;
//   - key.<encoded key>: a cache key pinned hot (see Caches for what a key names);
//   - counts: the online counts of the CountsSize most watched live rooms, written by the one
//     room process holding the list-order lease at every refresh, with a TTL so that counts
//     nobody refreshes any more are forgotten.
//
// A pin is written with a TTL that ends at its until, so the bucket forgets it then (watchers
// see a delete marker); readers also judge a pin by its until, since a marker may come late.
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
	"time"

	"github.com/nats-io/nats.go"
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
	js  jetstream.JetStream
	log *slog.Logger
	now func() time.Time
}

// Open creates the bucket if needed; now is the clock pins are judged by (nil = time.Now).
func Open(ctx context.Context, q *queue.Queue, log *slog.Logger, now func() time.Time) (*Table, error) {
	kv, err := q.EnsureKV(ctx, queue.KVSpec{Name: Bucket, KeyTTL: true})
	if err != nil {
		return nil, fmt.Errorf("hotpin: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Table{kv: kv, js: q.JS, log: log, now: now}, nil
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

// put writes a pin whose key expires at its until (whole seconds, rounded up).
func (t *Table) put(ctx context.Context, k string, p Pin) error {
	ttl := p.Until.Sub(t.now())
	if ttl <= 0 || ttl > MaxPin+time.Minute {
		return fmt.Errorf("hotpin: until must be within %s from now", MaxPin)
	}
	ttl = (ttl + time.Second - 1).Truncate(time.Second)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return t.putTTL(ctx, k, b, ttl)
}

// putTTL writes value under key with its own TTL (a Put that takes one): the bucket removes
// the key ttl after this write and watchers get a delete marker then.
func (t *Table) putTTL(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	msg := &nats.Msg{Subject: "$KV." + t.kv.Bucket() + "." + key, Data: value}
	if _, err := t.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl)); err != nil {
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

// PutCounts stores the online counts of the CountsSize most watched rooms of counts, for ttl:
// if no newer counts are written by then (the writer stopped), the bucket forgets them and
// every watcher is told the counts are gone.
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
	b, err := json.Marshal(top)
	if err != nil {
		return err
	}
	return t.putTTL(ctx, countsKey, b, max(time.Second, ttl.Truncate(time.Second)))
}

// Event is one change seen by Watch: a pin set (Pin), a pin gone (Gone, with Pin.Room or
// Pin.Key naming what was unpinned), or new counts (Counts non-nil).
type Event struct {
	Pin    Pin
	Gone   bool
	Counts map[int64]int64
}

// Watch sends every current entry and then every change to fn, on one goroutine, until ctx
// ends; ready is closed once the current entries have been sent. A malformed entry is logged
// and skipped.
func (t *Table) Watch(ctx context.Context, fn func(Event)) (ready <-chan struct{}, err error) {
	return queue.WatchKV(ctx, t.kv, "hotpin", t.log, decode, fn)
}

func decode(e jetstream.KeyValueEntry) (Event, error) {
	k := e.Key()
	gone := e.Operation() != jetstream.KeyValuePut
	switch {
	case k == countsKey:
		if gone {
			return Event{Counts: map[int64]int64{}}, nil
		}
		var raw map[string]int64
		if err := json.Unmarshal(e.Value(), &raw); err != nil {
			return Event{}, err
		}
		c := make(map[int64]int64, len(raw))
		for s, n := range raw {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return Event{}, err
			}
			c[id] = n
		}
		return Event{Counts: c}, nil
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
	return Event{Pin: p}, nil
}
