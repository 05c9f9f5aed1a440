// Package ids generates Snowflake-style 64-bit ids: time-ordered, unique across processes as
// long as each process has its own node number, and cheap enough for every comment and order.
//
// Layout (most significant first): 1 unused bit, 41 bits of milliseconds since Epoch
// (about 69 years), 10 bits of node, 12 bits of sequence within the millisecond.
package ids

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	nodeBits = 10
	seqBits  = 12
	// MaxNode is the largest node number.
	MaxNode   = 1<<nodeBits - 1
	maxSeq    = 1<<seqBits - 1
	timeShift = nodeBits + seqBits
)

// Epoch is the zero of the id clock: 2024-01-01T00:00:00Z.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Generator hands out ids for one node. It is safe for concurrent use.
type Generator struct {
	mu   sync.Mutex
	node int64
	last int64 // ms since Epoch of the last id
	seq  int64
	now  func() time.Time
}

// New returns a generator for node (0..MaxNode).
func New(node int64) (*Generator, error) {
	if node < 0 || node > MaxNode {
		return nil, fmt.Errorf("ids: node %d out of range 0..%d", node, MaxNode)
	}
	return &Generator{node: node, now: time.Now}, nil
}

// ErrClockBackwards is returned when the clock moved back more than a second.
var ErrClockBackwards = errors.New("ids: clock moved backwards")

// Next returns a new id, greater than every id this generator returned before.
func (g *Generator) Next() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.now().Sub(Epoch).Milliseconds()
	if ms < g.last {
		if g.last-ms > 1000 {
			return 0, ErrClockBackwards
		}
		ms = g.last // small step back (NTP slew): keep counting on the last millisecond
	}
	if ms == g.last {
		g.seq++
		if g.seq > maxSeq {
			// Sequence exhausted in this millisecond: borrow the next one.
			ms++
			g.seq = 0
		}
	} else {
		g.seq = 0
	}
	g.last = ms
	return ms<<timeShift | g.node<<seqBits | g.seq, nil
}

// MustNext is Next for callers that treat a backwards clock as fatal.
func (g *Generator) MustNext() int64 {
	id, err := g.Next()
	if err != nil {
		panic(err)
	}
	return id
}

// Time is the moment an id was made (millisecond precision).
func Time(id int64) time.Time {
	return Epoch.Add(time.Duration(id>>timeShift) * time.Millisecond)
}

// First is the smallest id made at t's millisecond: every id made at t or later is at least
// First(t), every id made before it is smaller. Ranges of ids are ranges of time, so a table
// keyed by id can be split by time (sqlstore's monthly partitions).
func First(t time.Time) int64 { return t.Sub(Epoch).Milliseconds() << timeShift }

// Node is the node that made an id.
func Node(id int64) int64 { return id >> seqBits & MaxNode }
