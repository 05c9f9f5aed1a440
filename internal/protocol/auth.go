package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
)

// MaxAuthBody bounds the JSON body of an auth packet. Real clients send a few
// hundred bytes (the key is the longest field).
const MaxAuthBody = 4 << 10

// MaxAuthPacket is the largest auth packet (header + MaxAuthBody): the
// packet limit a server applies before a connection is authenticated, so an
// unauthenticated peer can make it hold no more than this.
const MaxAuthPacket = HeaderLen + MaxAuthBody

// Auth reply codes (body of OpAuthReply).
const (
	AuthCodeOK     = 0
	AuthCodeReject = -101
)

// AuthBody is the JSON body of the first packet on a connection (OpAuth).
// Unknown fields (newer clients send "buvid" and others) are ignored.
type AuthBody struct {
	UID      int64  `json:"uid"`      // 0 = guest
	RoomID   int64  `json:"roomid"`   // real room id, > 0; 0 = the user's own channel (below)
	ProtoVer int    `json:"protover"` // 0 or 1 plain, 2 zlib, 3 brotli
	Platform string `json:"platform"` // "web", ...
	Type     int    `json:"type"`     // 2 for web clients
	Key      string `json:"key"`      // token from getDanmuInfo; "" for guests
}

// MessageVer is the packet version the connection's op-5 messages use.
// Protover 1 is treated like 0: the client gets plain ver-0 packets, because
// op-5 messages are never sent with version 1.
func (a AuthBody) MessageVer() uint16 {
	switch a.ProtoVer {
	case 2:
		return VerZlib
	case 3:
		return VerBrotli
	default:
		return VerPlain
	}
}

// ParseAuth validates and decodes an auth body: at most MaxAuthBody bytes, a
// single JSON object, uid >= 0, roomid >= 0, protover in {0,1,2,3}. Missing
// fields take their zero value (a missing protover means plain messages).
//
// Room 0 is zhibo's own addition: a signed-in user's channel, joined with a token issued
// for it (GET /api/channel), that carries only what is pushed to the user (private
// messages, notices) and no room's traffic. Logic admits it only with such a token.
func ParseAuth(b []byte) (AuthBody, error) {
	var a AuthBody
	if len(b) > MaxAuthBody {
		return a, errorf(ErrAuth, "body of %d bytes exceeds %d", len(b), MaxAuthBody)
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return a, errorf(ErrAuth, "body is not a JSON object")
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return AuthBody{}, wrapErr(ErrAuth, "json", err)
	}
	switch {
	case a.UID < 0:
		return a, errorf(ErrAuth, "uid %d is negative", a.UID)
	case a.RoomID < 0:
		return a, errorf(ErrAuth, "roomid %d is negative", a.RoomID)
	case a.ProtoVer < 0 || a.ProtoVer > int(maxVer):
		return a, errorf(ErrAuth, "protover %d not in 0..3", a.ProtoVer)
	}
	return a, nil
}

// AppendAuth appends a client's auth packet (op 7, version 1) carrying a as
// JSON. Clients, load generators and tests use it.
func AppendAuth(dst []byte, seq uint32, a AuthBody) []byte {
	body, _ := json.Marshal(a) // AuthBody has only strings and integers
	return AppendPacket(dst, VerInt, OpAuth, seq, body)
}

// AppendHeartbeat appends a client's heartbeat packet (op 2, version 1) with
// an empty body.
func AppendHeartbeat(dst []byte, seq uint32) []byte {
	return AppendPacket(dst, VerInt, OpHeartbeat, seq, nil)
}

// AuthReplyBody is the JSON body of an OpAuthReply packet: {"code":code}.
func AuthReplyBody(code int) []byte {
	b := make([]byte, 0, 16)
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, '}')
}

// AppendAuthReply appends a complete auth reply packet (op 8, version 1)
// echoing the client's sequence.
func AppendAuthReply(dst []byte, seq uint32, code int) []byte {
	return AppendPacket(dst, VerInt, OpAuthReply, seq, AuthReplyBody(code))
}

// HeartbeatReplyBody is the body of an OpHeartbeatReply packet: popularity
// as a 4-byte big-endian integer, clamped to the uint32 range.
func HeartbeatReplyBody(popularity int64) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], clampUint32(popularity))
	return b[:]
}

// AppendHeartbeatReply appends a complete heartbeat reply packet (op 3,
// version 1) echoing the client's sequence.
func AppendHeartbeatReply(dst []byte, seq uint32, popularity int64) []byte {
	n := len(dst)
	dst = grow(dst, HeaderLen+4)
	PutHeader(dst[n:], 4, VerInt, OpHeartbeatReply, seq)
	binary.BigEndian.PutUint32(dst[n+HeaderLen:], clampUint32(popularity))
	return dst
}

// Popularity decodes a heartbeat reply body (its first 4 bytes; Bilibili may
// append the client's heartbeat body after them).
func Popularity(body []byte) (int64, bool) {
	if len(body) < 4 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(body)), true
}

func clampUint32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}
