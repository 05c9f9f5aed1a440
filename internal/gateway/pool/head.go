package pool

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
)

// Head is an upstream answer's head: its status and framing, and its header lines as they
// came. The lean client reads one line at a time (Answer); an event loop, which has the whole
// head in its buffer, parses it with ParseHead. Both apply the same rules.
type Head struct {
	Status int
	// ContentLength is the body's length, -1 when it is chunked or ends with the connection.
	ContentLength int64
	Chunked       bool
	// Reuse is whether the connection may carry another exchange once the body is read.
	Reuse bool

	http10 bool
	lines  []byte   // the header lines, each with its line end
	drop   []string // header names listed in Connection (hop-by-hop)
}

// statusLine starts the head with "HTTP/1.x NNN reason".
func (h *Head) statusLine(line []byte) error {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return fmt.Errorf("%w: status line %q", ErrBadAnswer, trimLine(line))
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 || code > 999 || (len(line) > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n') {
		return fmt.Errorf("%w: status line %q", ErrBadAnswer, trimLine(line))
	}
	h.Status, h.http10 = code, line[7] == '0'
	h.Reuse = !h.http10
	h.ContentLength, h.Chunked, h.drop, h.lines = -1, false, h.drop[:0], h.lines[:0]
	return nil
}

// headerLine takes one header line (with its line end).
func (h *Head) headerLine(line []byte) error {
	if len(h.lines)+len(line) > h1MaxHead {
		return fmt.Errorf("%w: head over %d bytes", ErrBadAnswer, h1MaxHead)
	}
	name, value, ok := splitHeader(line)
	if !ok {
		return fmt.Errorf("%w: header line %q", ErrBadAnswer, trimLine(line))
	}
	switch {
	case asciiEqualFold(name, "Content-Length"):
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n < 0 || (h.ContentLength >= 0 && n != h.ContentLength) {
			return fmt.Errorf("%w: Content-Length %q", ErrBadAnswer, value)
		}
		h.ContentLength = n
	case asciiEqualFold(name, "Transfer-Encoding"):
		if !asciiEqualFold(value, "chunked") {
			return fmt.Errorf("%w: Transfer-Encoding %q", ErrBadAnswer, value)
		}
		h.Chunked = true
	case asciiEqualFold(name, "Connection"):
		for tok := range bytes.SplitSeq(value, []byte(",")) {
			tok = bytes.TrimSpace(tok)
			switch {
			case asciiEqualFold(tok, "close"):
				h.Reuse = false
			case asciiEqualFold(tok, "keep-alive"):
				h.Reuse = h.Reuse || h.http10
			case len(tok) > 0:
				h.drop = append(h.drop, string(tok))
			}
		}
	}
	h.lines = append(h.lines, line...)
	return nil
}

// end checks the head's framing once its lines are in; noBody reports an answer that has no
// body whatever its headers say (1xx, 204, 304).
func (h *Head) end() (noBody bool, err error) {
	if h.Chunked && h.ContentLength >= 0 { // both: a smuggling attempt, or a broken upstream
		return false, fmt.Errorf("%w: Content-Length with chunked", ErrBadAnswer)
	}
	switch {
	case h.Status < 200 || h.Status == http.StatusNoContent || h.Status == http.StatusNotModified:
		h.ContentLength, h.Chunked = 0, false
		return true, nil
	case h.Chunked, h.ContentLength >= 0:
	default:
		h.Reuse = false // the body ends with the connection
	}
	return false, nil
}

// ParseHead parses b, an answer head from its status line to its blank line included (a
// bare LF ends a line as CRLF does), into h, whose buffers it reuses.
func ParseHead(b []byte, h *Head) error {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return fmt.Errorf("%w: no status line", ErrBadAnswer)
	}
	if err := h.statusLine(b[:i+1]); err != nil {
		return err
	}
	for b = b[i+1:]; ; {
		i = bytes.IndexByte(b, '\n')
		if i < 0 {
			return fmt.Errorf("%w: head without its blank line", ErrBadAnswer)
		}
		line := b[:i+1]
		b = b[i+1:]
		if trimLine(line) == nil {
			break
		}
		if err := h.headerLine(line); err != nil {
			return err
		}
	}
	_, err := h.end()
	return err
}

// Header calls fn with each header but the hop-by-hop ones (Connection and the names it
// lists, Keep-Alive, Proxy-Connection, Transfer-Encoding, TE, Trailer, Upgrade), name and
// value trimmed, in order. The slices are valid until the head is parsed again.
func (h *Head) Header(fn func(name, value []byte)) {
	lines := h.lines
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		line := lines[:i+1]
		lines = lines[i+1:]
		name, value, _ := splitHeader(line)
		if hopByHop(name) || h.listed(name) {
			continue
		}
		fn(name, value)
	}
}

// AppendLines appends the headers Header gives to dst as header lines, "Name: value\r\n", a
// CR inside a value written as a space (as net/http writes values); date and ctype report a
// Date and a Content-Type among them. The event loop writes an answer's head so, without
// making an http.Header of it (lane.Writer.Forward).
func (h *Head) AppendLines(dst []byte) (out []byte, date, ctype bool) {
	h.Header(func(name, value []byte) {
		date = date || asciiEqualFold(name, "Date")
		ctype = ctype || asciiEqualFold(name, "Content-Type")
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		start := len(dst)
		dst = append(dst, value...)
		for i := start; i < len(dst); i++ {
			if dst[i] == '\r' {
				dst[i] = ' '
			}
		}
		dst = append(dst, "\r\n"...)
	})
	return dst, date, ctype
}

func (h *Head) listed(name []byte) bool {
	for _, d := range h.drop {
		if asciiEqualFold(name, d) {
			return true
		}
	}
	return false
}

// Exported for the event loop, which keeps its own connections to a group's addresses.
const (
	// MaxHead is the largest answer head accepted.
	MaxHead = h1MaxHead
	// IdleTimeout is how long an idle connection to an address may be kept for reuse.
	IdleTimeout = h1IdleTimeout
	// BodyIdle is the longest idle time of a connection a request with a body reuses: an
	// upstream is unlikely to be closing a connection it used this recently, and a request
	// with a body cannot be sent again on a new one.
	BodyIdle = h1BodyIdle
	// DialTimeout bounds a connection's establishment.
	DialTimeout = h1DialTimeout
	// MaxIdle is how many idle connections to one address are kept.
	MaxIdle = h1MaxIdle
)
