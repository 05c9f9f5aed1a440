package comet

import (
	"context"
	"fmt"
	"slices"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// frameSet is one pushed batch, encoded lazily at most once per message
// version. Each encoding is laid out as [WebSocket header][packet bytes] in
// one allocation: TCP connections get the packet bytes, WebSocket
// connections the whole frame, so neither is ever copied per connection.
// A frameSet belongs to one push call (one goroutine).
type frameSet struct {
	msgs  [][]byte
	raw   int // plain size of the batch, for buffer sizing
	tcp   [numVers][]byte
	ws    [numVers][]byte
	built [numVers]bool
	err   error
}

func newFrameSet(msgs [][]byte) *frameSet {
	fs := &frameSet{msgs: msgs}
	for _, m := range msgs {
		fs.raw += protocol.HeaderLen + len(m)
	}
	return fs
}

// frameFor returns the bytes to queue to c, or nil if the batch cannot be
// encoded.
func (fs *frameSet) frameFor(c *conn) []byte {
	vi := c.vi
	if !fs.built[vi] {
		fs.build(vi)
	}
	if c.ws {
		return fs.ws[vi]
	}
	return fs.tcp[vi]
}

func (fs *frameSet) build(vi uint8) {
	fs.built[vi] = true
	size := fs.raw
	if vi != viPlain {
		size = size/3 + 64 // a guess; AppendBatch grows if needed
	}
	buf := make([]byte, wsMaxServerHeader, wsMaxServerHeader+size)
	buf, err := protocol.AppendBatch(buf, indexVer[vi], fs.msgs)
	if err != nil {
		fs.err = fmt.Errorf("comet: encode batch: %w", err)
		return
	}
	payload := buf[wsMaxServerHeader:]
	start := wsMaxServerHeader - wsHeaderLen(len(payload))
	appendWSHeader(buf[start:start], wsOpBinary, len(payload))
	fs.tcp[vi] = payload
	fs.ws[vi] = buf[start:]
}

// pushStats accumulates one push's outcome; slow connections are closed
// after the bucket lock is released.
type pushStats struct {
	delivered int
	bytes     int
	slow      []*conn
}

func (st *pushStats) fanout(s *Service, conns []*conn, fs *frameSet) {
	for _, c := range conns {
		b := fs.frameFor(c)
		if b == nil {
			continue
		}
		if s.enqueue(c, b) {
			st.delivered++
			st.bytes += len(b)
		} else {
			st.slow = append(st.slow, c)
		}
	}
}

func (s *Service) finishPush(target string, msgs [][]byte, st *pushStats) {
	for _, c := range st.slow {
		s.drop(c, dropQueueFull, nil)
	}
	s.m.batches.WithLabelValues(target).Inc()
	s.m.batchSize.Observe(float64(len(msgs)))
	s.m.messagesOut.Add(float64(len(msgs) * st.delivered))
	s.m.bytesOut.Add(float64(st.bytes))
}

// PushRoom queues one batch of op-5 JSON bodies to every connection in the
// room on this comet, in order, as a single write per connection. It never
// blocks on a connection: one whose send queue is full is closed. Pushes to
// one room should come from one goroutine to keep batches in order.
func (s *Service) PushRoom(ctx context.Context, roomID int64, msgs [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("comet: push room: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	fs := newFrameSet(msgs)
	var st pushStats
	b := s.bucketFor(roomID)
	b.mu.RLock()
	if r := b.rooms[roomID]; r != nil {
		st.fanout(s, r.conns, fs)
	}
	b.mu.RUnlock()
	s.finishPush(targetRoom, msgs, &st)
	return fs.err
}

// PushUsers queues one batch to every connection of the given users on this
// comet, whatever room they watch. Guests (uid 0) cannot be addressed.
func (s *Service) PushUsers(ctx context.Context, uids []int64, msgs [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("comet: push users: %w", err)
	}
	if len(msgs) == 0 || len(uids) == 0 {
		return nil
	}
	if len(uids) > 1 {
		uids = slices.Compact(slices.Sorted(slices.Values(uids)))
	}
	fs := newFrameSet(msgs)
	var st pushStats
	for _, b := range s.buckets {
		b.mu.RLock()
		for _, uid := range uids {
			if uid > 0 {
				st.fanout(s, b.users[uid], fs)
			}
		}
		b.mu.RUnlock()
	}
	s.finishPush(targetUsers, msgs, &st)
	return fs.err
}

// Broadcast queues one batch to every connection on this comet; the batch
// is encoded once per version for all rooms.
func (s *Service) Broadcast(ctx context.Context, msgs [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("comet: broadcast: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	fs := newFrameSet(msgs)
	var st pushStats
	for _, b := range s.buckets {
		b.mu.RLock()
		for _, r := range b.rooms {
			st.fanout(s, r.conns, fs)
		}
		b.mu.RUnlock()
	}
	s.finishPush(targetBroadcast, msgs, &st)
	return fs.err
}
