// Package protocol encodes and decodes Bilibili Live's public message-stream
// packets, the wire format every connection to the comet speaks (over
// WebSocket binary frames and over raw TCP), so that existing third-party
// live-danmaku clients work against zhibo unmodified.
//
// Every packet is a 16-byte big-endian header followed by a body:
//
//	offset size field
//	0      4    packet length (header + body)
//	4      2    header length, always 16
//	6      2    protocol version (VerPlain, VerInt, VerZlib, VerBrotli)
//	8      4    operation (OpHeartbeat ... OpAuthReply)
//	12     4    sequence
package protocol

import "encoding/binary"

// Header field sizes in bytes; every offset and the header length derive from
// them so the layout is stated exactly once.
const (
	PacketLenSize = 4
	HeaderLenSize = 2
	VerSize       = 2
	OpSize        = 4
	SeqSize       = 4

	PacketLenOffset = 0
	HeaderLenOffset = PacketLenOffset + PacketLenSize
	VerOffset       = HeaderLenOffset + HeaderLenSize
	OpOffset        = VerOffset + VerSize
	SeqOffset       = OpOffset + OpSize

	// HeaderLen is the size of every packet header (16).
	HeaderLen = SeqOffset + SeqSize
)

// Protocol versions (header offset 6). The version describes the body, not
// the client: op-5 messages use VerPlain, VerZlib or VerBrotli and never
// VerInt; heartbeat, auth and their replies use VerInt.
const (
	VerPlain  uint16 = 0 // body is one plain JSON document
	VerInt    uint16 = 1 // heartbeat / auth packets and their replies
	VerZlib   uint16 = 2 // body is a zlib stream of whole ver-0 packets
	VerBrotli uint16 = 3 // body is a brotli stream of whole ver-0 packets

	maxVer = VerBrotli
)

// Operations (header offset 8).
const (
	OpHeartbeat      uint32 = 2 // client → server, every 30 s
	OpHeartbeatReply uint32 = 3 // server → client, body = popularity (uint32 BE)
	OpMessage        uint32 = 5 // server → client, body = JSON {"cmd":...}
	OpAuth           uint32 = 7 // client → server, first packet, JSON AuthBody
	OpAuthReply      uint32 = 8 // server → client, body = {"code":0|-101}
)

// Limits.
const (
	// DefaultMaxPacket bounds one packet (header + body) when a caller passes
	// a non-positive maximum.
	DefaultMaxPacket = 64 << 10

	// maxPacketLimit is the largest packet length the 32-bit length field
	// may announce that we are willing to consider at all.
	maxPacketLimit = 1 << 30
)

// Packet is one decoded packet. Body may alias the buffer it was read into;
// see ReadPacket and DecodeAll for how long it stays valid.
type Packet struct {
	Ver  uint16
	Op   uint32
	Seq  uint32
	Body []byte
}

// KnownOp reports whether op is one of the five operations of the protocol.
func KnownOp(op uint32) bool {
	switch op {
	case OpHeartbeat, OpHeartbeatReply, OpMessage, OpAuth, OpAuthReply:
		return true
	}
	return false
}

// PutHeader writes a header for a packet with a body of bodyLen bytes into
// dst[:HeaderLen]. It panics if dst is shorter than HeaderLen.
func PutHeader(dst []byte, bodyLen int, ver uint16, op, seq uint32) {
	_ = dst[HeaderLen-1]
	binary.BigEndian.PutUint32(dst[PacketLenOffset:], uint32(HeaderLen+bodyLen))
	binary.BigEndian.PutUint16(dst[HeaderLenOffset:], HeaderLen)
	binary.BigEndian.PutUint16(dst[VerOffset:], ver)
	binary.BigEndian.PutUint32(dst[OpOffset:], op)
	binary.BigEndian.PutUint32(dst[SeqOffset:], seq)
}

// AppendPacket appends one packet (header + body) to dst and returns the
// extended slice.
func AppendPacket(dst []byte, ver uint16, op, seq uint32, body []byte) []byte {
	n := len(dst)
	dst = grow(dst, HeaderLen+len(body))
	PutHeader(dst[n:], len(body), ver, op, seq)
	copy(dst[n+HeaderLen:], body)
	return dst
}

// Header is a parsed, validated packet header.
type Header struct {
	PacketLen int
	Ver       uint16
	Op        uint32
	Seq       uint32
}

// BodyLen is the number of body bytes that follow the header.
func (h Header) BodyLen() int { return h.PacketLen - HeaderLen }

// ParseHeader validates b[:HeaderLen] against the protocol rules and maxSize
// (non-positive means DefaultMaxPacket). It returns ErrTruncated if b is
// shorter than a header.
func ParseHeader(b []byte, maxSize int) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrTruncated
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxPacket
	}
	plen := binary.BigEndian.Uint32(b[PacketLenOffset:])
	h := Header{
		Ver: binary.BigEndian.Uint16(b[VerOffset:]),
		Op:  binary.BigEndian.Uint32(b[OpOffset:]),
		Seq: binary.BigEndian.Uint32(b[SeqOffset:]),
	}
	if hl := binary.BigEndian.Uint16(b[HeaderLenOffset:]); hl != HeaderLen {
		return h, errorf(ErrHeaderLen, "header length %d, want %d", hl, HeaderLen)
	}
	if plen < HeaderLen {
		return h, errorf(ErrShort, "packet length %d is below the header length", plen)
	}
	if plen > maxPacketLimit || int(plen) > maxSize {
		return h, errorf(ErrTooLarge, "packet length %d exceeds %d", plen, maxSize)
	}
	h.PacketLen = int(plen)
	if h.Ver > maxVer {
		return h, errorf(ErrVersion, "version %d", h.Ver)
	}
	if !KnownOp(h.Op) {
		return h, errorf(ErrUnknownOp, "operation %d", h.Op)
	}
	return h, nil
}

// grow extends b by n bytes, reallocating at most once.
func grow(b []byte, n int) []byte {
	l := len(b)
	if cap(b)-l < n {
		nb := make([]byte, l, 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:l+n]
}
