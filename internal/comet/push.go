package comet

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// frameSet is one pushed batch, encoded lazily at most once per message
// version. Each encoding is laid out as [WebSocket header][packet bytes] in
// one allocation: TCP connections get the packet bytes, WebSocket
// connections the whole frame, so neither is ever copied per connection.
// The fan-out goroutines of a push share it: each version is encoded once,
// by the first that needs it.
type frameSet struct {
	msgs [][]byte
	raw  int // plain size of the batch, for buffer sizing
	tcp  [numVers][]byte
	ws   [numVers][]byte
	once [numVers]sync.Once
	err  [numVers]error
}

func newFrameSet(msgs [][]byte) *frameSet {
	fs := &frameSet{msgs: msgs}
	for _, m := range msgs {
		fs.raw += protocol.HeaderLen + len(m)
	}
	return fs
}

// frameFor returns the bytes to write to c (a whole WebSocket frame on a
// WebSocket connection), or nil if the batch cannot be encoded. The first
// call per version encodes it; callers may share fs.
func (fs *frameSet) frameFor(c *conn) []byte {
	p := fs.packetFor(c)
	if c.ws {
		return fs.ws[c.vi]
	}
	return p
}

// packetFor returns the batch's packet for c's version without a WebSocket
// header (a payload to join with others), or nil.
func (fs *frameSet) packetFor(c *conn) []byte {
	fs.once[c.vi].Do(func() { fs.build(c.vi) })
	return fs.tcp[c.vi]
}

// failed returns an encoding error, once no goroutine encodes any more.
func (fs *frameSet) failed() error {
	for _, err := range fs.err {
		if err != nil {
			return err
		}
	}
	return nil
}

func (fs *frameSet) build(vi uint8) {
	size := fs.raw
	if vi != viPlain {
		size = size/3 + 64 // a guess; AppendBatch grows if needed
	}
	buf := make([]byte, wsMaxServerHeader, wsMaxServerHeader+size)
	buf, err := protocol.AppendBatch(buf, indexVer[vi], fs.msgs)
	if err != nil {
		fs.err[vi] = fmt.Errorf("comet: encode batch: %w", err)
		return
	}
	payload := buf[wsMaxServerHeader:]
	start := wsMaxServerHeader - wsHeaderLen(len(payload))
	appendWSHeader(buf[start:start], wsOpBinary, len(payload))
	fs.tcp[vi] = payload
	fs.ws[vi] = buf[start:]
}

// finishRound closes the slow connections of a fan-out and counts what it
// wrote.
func (s *Service) finishRound(st *pushStats) {
	for _, c := range st.slow {
		s.drop(c, dropQueueFull, nil)
	}
	s.m.messagesOut.Add(float64(st.messages))
	s.m.bytesOut.Add(float64(st.bytes))
	s.m.writes.WithLabelValues(writeDirect).Add(float64(st.direct))
	s.m.writes.WithLabelValues(writeQueued).Add(float64(st.delivered - st.direct))
}

// push delivers msgs to the connections add picks from buckets and returns
// once they all have them (on the socket or queued).
func (s *Service) push(target string, msgs [][]byte, buckets []*bucket, add func(b *bucket, conns []*conn) []*conn) error {
	fs := newFrameSet(msgs)
	p := snapshot(buckets, add)
	st := s.deliver(*p, fs)
	release(p)
	s.finishRound(&st)
	s.m.batches.WithLabelValues(target).Inc()
	s.m.batchSize.Observe(float64(len(msgs)))
	return fs.failed()
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
	return s.push(targetUsers, msgs, s.buckets, func(b *bucket, dst []*conn) []*conn {
		for _, uid := range uids {
			if uid > 0 {
				dst = append(dst, b.users[uid]...)
			}
		}
		return dst
	})
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
	return s.push(targetBroadcast, msgs, s.buckets, func(b *bucket, dst []*conn) []*conn {
		for _, r := range b.rooms {
			dst = append(dst, r.conns...)
		}
		return dst
	})
}
