// Package presence shares, across a cluster, which comet holds viewers of which room. It is a
// key-value bucket on the queue with two kinds of keys:
//
//   - comet.<server>: a comet's latest report — its gRPC address and the distinct viewers of
//     each room it holds — written by the logic process the comet reports to, every
//     comet.report_interval;
//   - join.<server>.<room>: written by logic when it admits the first viewer of a room on a
//     comet that has not reported the room yet, before the viewer is admitted, so a room's
//     route exists before anyone on that comet can be missed.
//
// Two more kinds of keys say which users are connected, for the few users someone asks about
// (the customer-service agents), never for everyone:
//
//   - track.<uid>: a user whose presence a component asks for, written by that component every
//     TrackEvery; the user is no longer asked about TrackTTL after the last write;
//   - users.<server>: the tracked users that hold a connection on the comet, written by logic
//     with the comet's report whenever it names any (and once more when it names none again).
//     Logic answers each comet's report with the tracked users, and the comet names those it
//     holds in its next one.
//
// Every logic process reads all reports, so several of them agree on the cluster-wide online
// counts; every job reads them to send a room's batch only to the comets that hold it, and
// to find comets (new ones included) without a fixed list. Entries expire (the bucket's TTL),
// and readers also ignore entries older than their own staleness bound, since expiry is
// silent.
package presence

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Bucket is the key-value bucket (within the queue namespace).
const Bucket = "presence"

// TTL is how long an entry outlives its last write; a comet that stops reporting (dead, or
// cut off) disappears after it.
const TTL = 2 * time.Minute

// Report is one comet's view of its own rooms.
type Report struct {
	Server string          // the comet's server id
	Addr   string          // its gRPC address, as other processes reach it ("" = none)
	Rooms  map[int64]int64 // room → distinct viewers
	At     time.Time       // when the entry was written (the queue server's clock)
}

// Table reads and writes the bucket.
type Table struct {
	kv  jetstream.KeyValue
	log *slog.Logger
}

// Open creates the bucket if needed. It is kept on disk like the streams, so a queue server
// that restarts keeps it and every watcher carries on where it was; entries left by a process
// that died expire after TTL and read as stale long before.
func Open(ctx context.Context, q *queue.Queue, log *slog.Logger) (*Table, error) {
	kv, err := q.EnsureKV(ctx, queue.KVSpec{Name: Bucket, TTL: TTL})
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	return &Table{kv: kv, log: log}, nil
}

// Key turns a server id into a key token (the characters a key allows; '.' separates tokens).
func Key(server string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '=':
			return r
		}
		return '_'
	}, server)
}

// Put stores a comet's report.
func (t *Table) Put(ctx context.Context, r Report) error {
	_, err := t.kv.Put(ctx, "comet."+Key(r.Server), encode(r))
	return err
}

// Join records that server has its first viewer of room, ahead of the server's next report.
func (t *Table) Join(ctx context.Context, server string, room int64) error {
	_, err := t.kv.Put(ctx, "join."+Key(server)+"."+strconv.FormatInt(room, 10), nil)
	return err
}

// How long a tracked user is asked about (TrackTTL) after its tracker last wrote it; a tracker
// writes every TrackEvery.
const (
	TrackEvery = 30 * time.Second
	TrackTTL   = 3 * TrackEvery
)

// PutUsers stores the tracked users that hold a connection on server.
func (t *Table) PutUsers(ctx context.Context, server string, uids []int64) error {
	b := make([]byte, 0, 1+len(uids)*5)
	b = append(b, version)
	for _, u := range uids {
		b = binary.AppendVarint(b, u)
	}
	_, err := t.kv.Put(ctx, "users."+Key(server), b)
	return err
}

// Track asks the comets to report whether uid is connected, for TrackTTL from now.
func (t *Table) Track(ctx context.Context, uid int64) error {
	_, err := t.kv.Put(ctx, "track."+strconv.FormatInt(uid, 10), nil)
	return err
}

// Event is one change seen by Watch.
type Event struct {
	// Server is the key token of the comet (Key of its server id).
	Server string
	// Report is set for a comet's report (Join false, Gone false).
	Report Report
	// Join: Room got its first viewer on Server at At.
	Join bool
	Room int64
	At   time.Time
	// Gone: the comet's report was deleted.
	Gone bool
	// Users: UIDs are the tracked users connected to Server, as of At.
	Users bool
	UIDs  []int64
	// Track: UID is tracked, as of At.
	Track bool
	UID   int64
}

// Watch sends every current entry and then every change to fn, on one goroutine, until ctx
// ends; ready is closed once the current entries have been sent. A malformed entry is logged
// and skipped.
func (t *Table) Watch(ctx context.Context, fn func(Event)) (ready <-chan struct{}, err error) {
	return queue.WatchKV(ctx, t.kv, "presence", t.log, decodeEntry, fn)
}

// WatchUsers is Watch of the users.<server> entries alone: the tracked users connected to
// each comet, for a reader that has no use for the rooms.
func (t *Table) WatchUsers(ctx context.Context, fn func(Event)) (ready <-chan struct{}, err error) {
	return queue.WatchKV(ctx, t.kv, "presence", t.log, decodeEntry, fn, "users.>")
}

var errBadEntry = errors.New("malformed presence entry")

func decodeEntry(e jetstream.KeyValueEntry) (Event, error) {
	kind, rest, _ := strings.Cut(e.Key(), ".")
	deleted := e.Operation() != jetstream.KeyValuePut
	switch kind {
	case "comet":
		if deleted {
			return Event{Server: rest, Gone: true, At: e.Created()}, nil
		}
		r, err := decode(e.Value())
		if err != nil {
			return Event{}, err
		}
		r.At = e.Created()
		return Event{Server: rest, Report: r, At: r.At}, nil
	case "join":
		srv, room, ok := strings.Cut(rest, ".")
		id, err := strconv.ParseInt(room, 10, 64)
		if !ok || err != nil || id <= 0 {
			return Event{}, errBadEntry
		}
		if deleted {
			return Event{}, errBadEntry
		}
		return Event{Server: srv, Join: true, Room: id, At: e.Created()}, nil
	case "users":
		ev := Event{Server: rest, Users: true, At: e.Created()}
		if deleted {
			return ev, nil
		}
		b := e.Value()
		if len(b) < 1 || b[0] != version {
			return Event{}, errBadEntry
		}
		for b = b[1:]; len(b) > 0; {
			u, k := binary.Varint(b)
			if k <= 0 || u <= 0 {
				return Event{}, errBadEntry
			}
			ev.UIDs = append(ev.UIDs, u)
			b = b[k:]
		}
		return ev, nil
	case "track":
		uid, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || uid <= 0 || deleted {
			return Event{}, errBadEntry
		}
		return Event{Track: true, UID: uid, At: e.Created()}, nil
	}
	return Event{}, errBadEntry
}

const version = 1

// encode packs a report: version, server, addr, then (room, viewers) pairs, all varints.
func encode(r Report) []byte {
	b := make([]byte, 0, 16+len(r.Server)+len(r.Addr)+len(r.Rooms)*8)
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(r.Server)))
	b = append(b, r.Server...)
	b = binary.AppendUvarint(b, uint64(len(r.Addr)))
	b = append(b, r.Addr...)
	b = binary.AppendUvarint(b, uint64(len(r.Rooms)))
	for id, n := range r.Rooms {
		b = binary.AppendVarint(b, id)
		b = binary.AppendVarint(b, n)
	}
	return b
}

func decode(b []byte) (Report, error) {
	if len(b) < 1 || b[0] != version {
		return Report{}, errBadEntry
	}
	b = b[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	var r Report
	var ok bool
	if r.Server, ok = str(); !ok {
		return Report{}, errBadEntry
	}
	if r.Addr, ok = str(); !ok {
		return Report{}, errBadEntry
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return Report{}, errBadEntry
	}
	b = b[k:]
	r.Rooms = make(map[int64]int64, n)
	for range n {
		id, k1 := binary.Varint(b)
		if k1 <= 0 {
			return Report{}, errBadEntry
		}
		v, k2 := binary.Varint(b[k1:])
		if k2 <= 0 {
			return Report{}, errBadEntry
		}
		r.Rooms[id] = v
		b = b[k1+k2:]
	}
	if len(b) != 0 {
		return Report{}, errBadEntry
	}
	return r, nil
}
