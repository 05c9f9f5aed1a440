package protocol

import (
	"strconv"
	"unicode/utf8"
)

// jsonw appends JSON tokens to a byte slice. Message builders use it instead
// of encoding/json so the field order matches Bilibili's and a message costs
// one allocation; appendString does the escaping that makes it safe for any
// user text.
type jsonw struct{ b []byte }

func (w *jsonw) raw(s string) *jsonw { w.b = append(w.b, s...); return w }

func (w *jsonw) int(v int64) *jsonw { w.b = strconv.AppendInt(w.b, v, 10); return w }

func (w *jsonw) str(s string) *jsonw { w.b = appendString(w.b, s); return w }

// strInt writes an integer as a JSON string ("123").
func (w *jsonw) strInt(v int64) *jsonw {
	w.b = append(w.b, '"')
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, '"')
	return w
}

// key writes "name": (with a leading comma unless first).
func (w *jsonw) key(name string, first bool) *jsonw {
	if !first {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
	return w
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// control characters, quotes, backslashes, <, >, & and U+2028/U+2029 are
// escaped so the output is safe to embed anywhere (as encoding/json does).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
