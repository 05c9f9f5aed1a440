package bench

import (
	"bytes"
	"strconv"
)

// A bench comment's text is marker|sender|seq|unixnano| padded with 'x' to the message size:
// enough for a receiver to check order and loss per sender and measure latency from the
// moment of sending, with nothing the danmaku validator trims or refuses.
const (
	marker = "zbench|"
	// minMsgSize holds the marker and the largest sender, sequence and timestamp.
	minMsgSize = len(marker) + 6 + 1 + 10 + 1 + 19 + 1
)

// stamp is what a bench comment carries.
type stamp struct {
	sender int
	seq    int64
	sentNS int64
}

// appendText appends the text of st padded to size bytes.
func appendText(b []byte, st stamp, size int) []byte {
	start := len(b)
	b = append(b, marker...)
	b = strconv.AppendInt(b, int64(st.sender), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, st.seq, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, st.sentNS, 10)
	b = append(b, '|')
	for len(b)-start < size {
		b = append(b, 'x')
	}
	return b
}

var (
	danmuCmd    = []byte(`"cmd":"DANMU_MSG"`)
	markerBytes = []byte(marker)
)

// scanDanmu finds the stamp in an op-5 body without decoding the JSON: the body must be a
// DANMU_MSG, and the first occurrence of the marker is the text (DANMU_MSG carries it twice,
// in info[0]'s extra and in info[1]; both are the same). ok is false for anything else —
// other commands, or comments not sent by a bench.
func scanDanmu(body []byte) (st stamp, ok bool) {
	if !bytes.Contains(body[:min(len(body), 48)], danmuCmd) {
		return st, false
	}
	i := bytes.Index(body, markerBytes)
	if i < 0 {
		return st, false
	}
	return parseStamp(body[i:])
}

// parseStamp reads the stamp at the start of b (a text appendText made, or what follows it).
func parseStamp(b []byte) (st stamp, ok bool) {
	if !bytes.HasPrefix(b, markerBytes) {
		return st, false
	}
	rest := b[len(marker):]
	var sender, seq, ts int64
	if sender, rest, ok = scanInt(rest); !ok {
		return st, false
	}
	if seq, rest, ok = scanInt(rest); !ok {
		return st, false
	}
	if ts, _, ok = scanInt(rest); !ok {
		return st, false
	}
	return stamp{sender: int(sender), seq: seq, sentNS: ts}, true
}

// scanInt reads decimal digits up to a '|'.
func scanInt(b []byte) (int64, []byte, bool) {
	var v int64
	for i, c := range b {
		switch {
		case c == '|' && i > 0:
			return v, b[i+1:], true
		case c >= '0' && c <= '9' && i < 19:
			v = v*10 + int64(c-'0')
		default:
			return 0, b, false
		}
	}
	return 0, b, false
}
