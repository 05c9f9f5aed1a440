package push

import (
	"encoding/binary"
	"errors"
)

// Target says who a push is for.
type Target byte

const (
	TargetRoom Target = 1
	TargetUser Target = 2
	TargetAll  Target = 3
)

// Push is one queue message of the push stream: a target and the op-5 bodies to deliver.
type Push struct {
	Target Target
	RoomID int64   // TargetRoom
	UIDs   []int64 // TargetUser
	Msgs   [][]byte
}

const (
	pushVersion  = 1
	maxPushMsgs  = 4096
	maxPushUIDs  = 100_000
	maxPushBytes = 8 << 20
)

// ErrBadPush is returned for a push message that cannot be decoded.
var ErrBadPush = errors.New("push: malformed push message")

// Marshal encodes p: version, target, room, uid count + uids, msg count + (len, bytes)…,
// all varints — compact, and decoded without reflection on the job's hot path.
func Marshal(p Push) []byte {
	n := 2 + binary.MaxVarintLen64*(2+len(p.UIDs)+len(p.Msgs))
	for _, m := range p.Msgs {
		n += len(m)
	}
	b := make([]byte, 0, n)
	b = append(b, pushVersion, byte(p.Target))
	b = binary.AppendVarint(b, p.RoomID)
	b = binary.AppendUvarint(b, uint64(len(p.UIDs)))
	for _, u := range p.UIDs {
		b = binary.AppendVarint(b, u)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Msgs)))
	for _, m := range p.Msgs {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

// Unmarshal decodes a push; msgs alias b.
func Unmarshal(b []byte) (Push, error) {
	if len(b) < 2 || len(b) > maxPushBytes || b[0] != pushVersion || b[1] < byte(TargetRoom) || b[1] > byte(TargetAll) {
		return Push{}, ErrBadPush
	}
	p := Push{Target: Target(b[1])}
	b = b[2:]
	var ok bool
	if p.RoomID, b, ok = varint(b); !ok {
		return Push{}, ErrBadPush
	}
	n, b, ok := uvarint(b)
	if !ok || n > maxPushUIDs || n > uint64(len(b)) {
		return Push{}, ErrBadPush
	}
	if n > 0 {
		p.UIDs = make([]int64, n)
		for i := range p.UIDs {
			if p.UIDs[i], b, ok = varint(b); !ok {
				return Push{}, ErrBadPush
			}
		}
	}
	if n, b, ok = uvarint(b); !ok || n > maxPushMsgs || n > uint64(len(b)) {
		return Push{}, ErrBadPush
	}
	p.Msgs = make([][]byte, n)
	for i := range p.Msgs {
		var l uint64
		if l, b, ok = uvarint(b); !ok || l > uint64(len(b)) {
			return Push{}, ErrBadPush
		}
		p.Msgs[i], b = b[:l:l], b[l:]
	}
	if len(b) != 0 || (p.Target == TargetRoom && p.RoomID <= 0) {
		return Push{}, ErrBadPush
	}
	return p, nil
}

func varint(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}
