package comet

import (
	"sync"
	"sync/atomic"
)

// bucket is one shard of the comet's connection state: the rooms whose id
// maps to it (with their connections) and, separately, connections still in
// the auth phase spread by arrival order. Pushes hold the read lock; joins
// and leaves hold the write lock of one bucket only.
type bucket struct {
	mu      sync.RWMutex
	rooms   map[int64]*room
	users   map[int64][]*conn // uid > 0 → its connections in this bucket's rooms
	pending map[*conn]struct{}
	closed  bool // set by closeAll; nothing joins a closed bucket
}

// room is the set of connections watching one room on this comet.
type room struct {
	id    int64
	conns []*conn // order is irrelevant; removal swaps with the last
	// viewers counts the room's connections per viewer (conn.viewer): its size is the
	// distinct-viewer count reported to logic. One entry per viewer, not per connection.
	viewers map[int64]int32
	// viewersPeak is the most entries viewers held since it was last rebuilt: a Go map
	// keeps its peak size, so leave rebuilds it once it is far below.
	viewersPeak int
	// popularity is the global online count for the room, refreshed from
	// logic; heartbeat replies carry it.
	popularity atomic.Int64

	push roomLog // batches on their way to the room's connections (roompush.go)
}

func newBucket() *bucket {
	return &bucket{
		rooms:   make(map[int64]*room),
		users:   make(map[int64][]*conn),
		pending: make(map[*conn]struct{}),
	}
}

// addPending tracks a connection in the auth phase so Stop can close it.
func (b *bucket) addPending(c *conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.pending[c] = struct{}{}
	return true
}

func (b *bucket) removePending(c *conn) {
	b.mu.Lock()
	delete(b.pending, c)
	b.mu.Unlock()
}

// join adds an authenticated connection to its room, creating the room if
// needed. It reports whether the connection joined and whether the room is
// new on this comet.
func (b *bucket) join(c *conn, popularity int64) (joined, newRoom bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, false
	}
	r := b.rooms[c.roomID]
	if r == nil {
		r = &room{id: c.roomID, viewers: make(map[int64]int32)}
		b.rooms[c.roomID] = r
		newRoom = true
	}
	r.popularity.Store(popularity)
	c.room = r
	c.next = r.push.head() // only batches pushed from now on
	c.idx = len(r.conns)
	r.conns = append(r.conns, c)
	r.viewers[c.viewer()]++
	r.viewersPeak = max(r.viewersPeak, len(r.viewers))
	if c.uid > 0 {
		b.users[c.uid] = append(b.users[c.uid], c)
	}
	return true, newRoom
}

// leave removes a joined connection and reports whether its room emptied.
func (b *bucket) leave(c *conn) (roomGone bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := c.room
	if r == nil || c.idx < 0 {
		return false
	}
	last := len(r.conns) - 1
	moved := r.conns[last]
	r.conns[c.idx] = moved
	moved.idx = c.idx
	r.conns[last] = nil
	r.conns = r.conns[:last]
	c.idx = -1
	if v := c.viewer(); r.viewers[v] <= 1 {
		delete(r.viewers, v)
	} else {
		r.viewers[v]--
	}
	if r.viewersPeak > 1024 && len(r.viewers) < r.viewersPeak/4 {
		m := make(map[int64]int32, len(r.viewers)) // give memory back (maps.Clone keeps the size)
		for k, n := range r.viewers {
			m[k] = n
		}
		r.viewers, r.viewersPeak = m, len(m)
	}
	if len(r.conns) == 0 {
		delete(b.rooms, r.id)
		roomGone = true
	} else if cap(r.conns) > 64 && len(r.conns) < cap(r.conns)/4 {
		r.conns = append([]*conn(nil), r.conns...) // give memory back after a crowd leaves
	}
	if c.uid > 0 {
		us := b.users[c.uid]
		for i, x := range us {
			if x == c {
				us[i] = us[len(us)-1]
				us[len(us)-1] = nil
				us = us[:len(us)-1]
				break
			}
		}
		if len(us) == 0 {
			delete(b.users, c.uid)
		} else {
			b.users[c.uid] = us
		}
	}
	return roomGone
}

// closeAll closes every connection of the bucket (pending and joined) and
// refuses new ones. It returns how many it closed.
func (b *bucket) closeAll() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	n := 0
	for c := range b.pending {
		if c.close(closeShutdown) {
			n++
		}
	}
	for _, r := range b.rooms {
		for _, c := range r.conns {
			if c.close(closeShutdown) {
				n++
			}
		}
	}
	return n
}
