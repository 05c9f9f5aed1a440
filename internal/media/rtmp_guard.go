package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// The RTMP chunk stream lets a client announce, in a 12-byte chunk header, a message of up to
// 16 MiB on any of 65599 chunk streams, and lal's reader reserves each announced length at
// once: a client that has not even published could make the process allocate gigabytes. The
// guard reads the same chunk stream alongside lal (the same rules as lal's ChunkComposer) and
// ends the connection before lal sees a header over these bounds.
const (
	rtmpHandshakeLen    = 1 + 1536 + 1536 // C0, C1, C2: passed through
	maxChunkStreams     = 16              // distinct chunk stream ids per connection (encoders use a handful)
	maxMsgBeforePublish = 64 << 10        // commands before an accepted publish are small
	maxMsgPublishing    = 8 << 20         // one audio/video message of an accepted publisher
	rtmpDefaultChunk    = 128
	rtmpMaxTimestamp    = 0xFFFFFF
	rtmpTypeSetChunk    = 1
)

var errRTMPGuard = errors.New("rtmp chunk stream over bounds")

// guardConn is the connection as lal reads it, watched by a chunkGuard.
type guardConn struct {
	net.Conn
	g *chunkGuard
}

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if gerr := c.g.feed(p[:n]); gerr != nil {
			return 0, gerr
		}
	}
	return n, err
}

// chunkGuard follows the chunk stream's framing: basic header, message header, extended
// timestamp, then as much payload as the chunk carries. It runs on the connection's
// goroutine only.
type chunkGuard struct {
	skip      int // handshake bytes still to pass
	published bool
	chunkSize uint32
	streams   map[int]*guardStream

	state   guardState
	hdr     [16]byte
	need    int // bytes of the current header part still wanted
	have    int
	fmt     byte
	cur     *guardStream
	payload uint32 // payload bytes of the current chunk still to pass

	messages int // complete messages framed so far
}

type guardState int

const (
	gBasic guardState = iota
	gBasicExt
	gMsgHeader
	gExtTS
	gPayload
)

type guardStream struct {
	timestamp uint32 // the 24-bit field as last read (or the extended value), as lal keeps it
	msgLen    uint32
	msgType   byte
	got       uint32 // payload bytes of the current message so far
	first4    [4]byte
}

func newChunkGuard() *chunkGuard {
	return &chunkGuard{skip: rtmpHandshakeLen, chunkSize: rtmpDefaultChunk, streams: map[int]*guardStream{}}
}

func (g *chunkGuard) feed(b []byte) error {
	for len(b) > 0 {
		if g.skip > 0 {
			n := min(g.skip, len(b))
			g.skip -= n
			b = b[n:]
			continue
		}
		switch g.state {
		case gBasic:
			g.fmt = b[0] >> 6
			csid := int(b[0] & 0x3f)
			b = b[1:]
			switch csid {
			case 0:
				g.state, g.need, g.have = gBasicExt, 1, 0
			case 1:
				g.state, g.need, g.have = gBasicExt, 2, 0
			default:
				if err := g.chunkStream(csid); err != nil {
					return err
				}
			}
		case gBasicExt:
			n := g.take(b)
			b = b[n:]
			if g.have == g.need {
				csid := 64 + int(g.hdr[0])
				if g.need == 2 {
					csid += int(g.hdr[1]) * 256
				}
				if err := g.chunkStream(csid); err != nil {
					return err
				}
			}
		case gMsgHeader:
			n := g.take(b)
			b = b[n:]
			if g.have == g.need {
				if err := g.messageHeader(); err != nil {
					return err
				}
			}
		case gExtTS:
			n := g.take(b)
			b = b[n:]
			if g.have == g.need {
				g.cur.timestamp = binary.BigEndian.Uint32(g.hdr[:4])
				g.startPayload()
			}
		case gPayload:
			n := min(int(g.payload), len(b))
			s := g.cur
			for i := 0; i < n && s.got+uint32(i) < 4; i++ {
				s.first4[s.got+uint32(i)] = b[i]
			}
			s.got += uint32(n)
			g.payload -= uint32(n)
			b = b[n:]
			if g.payload == 0 {
				g.endChunk()
			}
		}
	}
	return nil
}

// take copies header bytes still wanted from b and returns how many it took.
func (g *chunkGuard) take(b []byte) int {
	n := min(g.need-g.have, len(b))
	copy(g.hdr[g.have:], b[:n])
	g.have += n
	return n
}

// chunkStream starts the message header of a chunk on csid.
func (g *chunkGuard) chunkStream(csid int) error {
	s, ok := g.streams[csid]
	if !ok {
		if len(g.streams) >= maxChunkStreams {
			return fmt.Errorf("%w: more than %d chunk streams", errRTMPGuard, maxChunkStreams)
		}
		s = &guardStream{}
		g.streams[csid] = s
	}
	g.cur = s
	g.state, g.have = gMsgHeader, 0
	g.need = [4]int{11, 7, 3, 0}[g.fmt]
	if g.need == 0 {
		return g.messageHeader()
	}
	return nil
}

// messageHeader applies a complete message header, then reads the extended timestamp (when
// the timestamp field is saturated, as lal decides it) or the payload.
func (g *chunkGuard) messageHeader() error {
	s, h := g.cur, g.hdr[:]
	if g.fmt <= 2 {
		s.timestamp = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	}
	if g.fmt <= 1 {
		s.msgLen = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
		s.msgType = h[6]
		limit := uint32(maxMsgBeforePublish)
		if g.published {
			limit = maxMsgPublishing
		}
		if s.msgLen > limit {
			return fmt.Errorf("%w: message of %d bytes announced (limit %d)", errRTMPGuard, s.msgLen, limit)
		}
	}
	if s.timestamp >= rtmpMaxTimestamp {
		g.state, g.need, g.have = gExtTS, 4, 0
		return nil
	}
	g.startPayload()
	return nil
}

// startPayload sizes the chunk's payload as lal does.
func (g *chunkGuard) startPayload() {
	s := g.cur
	if s.msgLen <= g.chunkSize {
		g.payload, s.got = s.msgLen, 0 // a whole message in this chunk
	} else {
		g.payload = min(s.msgLen-s.got, g.chunkSize)
	}
	g.state = gPayload
	if g.payload == 0 {
		g.endChunk()
	}
}

// endChunk completes the message when all its payload arrived (a Set Chunk Size message
// changes the chunk size from the next chunk on).
func (g *chunkGuard) endChunk() {
	s := g.cur
	if s.got == s.msgLen || (s.msgLen <= g.chunkSize) {
		if s.msgType == rtmpTypeSetChunk && s.got >= 4 {
			g.chunkSize = binary.BigEndian.Uint32(s.first4[:])
		}
		s.got = 0
		g.messages++
	}
	g.state = gBasic
}
