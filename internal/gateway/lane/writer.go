package lane

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// heldMax is how much of an answer without a Content-Length is held to learn its length; a
// longer one, or one flushed, goes out chunked.
const heldMax = 4 << 10

// Writer is a connection's http.ResponseWriter, reset for each request: the lane's, and the
// event loop's (internal/gateway/loop), which writes the same answers the same way. Its output
// is a buffered writer of the connection's (Sink); Flush sends what it holds.
type Writer struct {
	out     Sink
	closing func() bool // the server is shutting down: each answer ends its connection
	conn    deadliner
	req     *http.Request
	header  http.Header
	status  int
	head    bool // the status line and headers are written
	chunk   bool // the body goes chunked
	length  int64
	wrote   int64
	held    []byte
	close   bool     // the connection ends after this answer
	failed  error    // a write to the client failed
	noBody  bool     // HEAD, 204, 304
	num     [20]byte // formats the numbers of a head (a local would escape to the heap, through Sink)
	// A forwarded answer's header lines (Forward), written after Header()'s.
	fwd                         []byte
	forwarded, fwdDate, fwdType bool
	fwdLen                      int64
}

// LineSource gives a forwarded answer's headers as header lines (pool.Head.AppendLines):
// each "Name: value\r\n", none of them hop-by-hop, a value without CR or LF; date and ctype
// report a Date and a Content-Type among them.
type LineSource interface {
	AppendLines(dst []byte) (out []byte, date, ctype bool)
}

// Forward takes the headers of an upstream's answer as lines to write into the head after
// those of Header(), instead of through Header(), and the body's length (-1 = unknown), in
// place of a Content-Length in Header(): the proxy's answer costs no http.Header. Called before
// WriteHeader.
func (w *Writer) Forward(src LineSource, length int64) {
	w.fwd, w.fwdDate, w.fwdType = src.AppendLines(w.fwd[:0])
	w.forwarded, w.fwdLen = true, length
}

func (w *Writer) Reset(req *http.Request) {
	if w.header == nil { // on the first request the lane serves, not for every connection
		w.header = http.Header{}
	}
	clear(w.header)
	w.req, w.status, w.head, w.chunk, w.length, w.wrote = req, 0, false, false, -1, 0
	w.held, w.close, w.failed, w.noBody = w.held[:0], false, nil, req.Method == http.MethodHead
	w.fwd, w.forwarded, w.fwdDate, w.fwdType = w.fwd[:0], false, false, false
}

func (w *Writer) Header() http.Header { return w.header }

func (w *Writer) WriteHeader(code int) {
	if w.status != 0 || w.head {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 { // interim answers are not sent by the lane
		return
	}
	w.status = code
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.noBody = true
	}
	if w.forwarded { // the length is the answer's; its Content-Length, if any, is among the lines
		delete(w.header, "Content-Length")
		w.length = w.fwdLen
	} else if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *Writer) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed != nil {
		return 0, w.failed
	}
	if w.noBody {
		w.wrote += int64(len(p)) // a HEAD's length, when the handler gives none
		return len(p), nil       // net/http does the same: the body is dropped
	}
	if w.length >= 0 && w.wrote+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	if !w.head && w.length < 0 && len(w.held)+len(p) <= heldMax {
		w.held = append(w.held, p...)
		w.wrote += int64(len(p))
		return len(p), nil
	}
	if !w.head {
		w.writeHead(w.length < 0, false)
	}
	w.wrote += int64(len(p))
	var err error
	if w.chunk {
		err = w.chunkOut(p)
	} else {
		_, err = w.out.Write(p)
	}
	if err != nil {
		w.failed = err
		return 0, err
	}
	return len(p), nil
}

// chunkOut writes p as one chunk.
func (w *Writer) chunkOut(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	bw := w.out
	var n [16]byte
	_, _ = bw.Write(strconv.AppendInt(n[:0], int64(len(p)), 16))
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

// writeHead writes the status line and headers, then what was held. chunked: the length is
// not known; final: the handler returned.
func (w *Writer) writeHead(chunked, final bool) {
	w.head = true
	bw := w.out
	h := w.header
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	num := w.num[:0]
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(strconv.AppendInt(num, int64(status), 10))
	_, _ = bw.WriteString(" ")
	_, _ = bw.WriteString(http.StatusText(status))
	_, _ = bw.WriteString("\r\n")
	if _, ok := h["Date"]; !ok && !w.fwdDate {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.WriteString(httpDate())
		_, _ = bw.WriteString("\r\n")
	}
	if w.noBody {
		chunked = false
		if final && w.length < 0 && w.req.Method == http.MethodHead && w.wrote > 0 {
			_, _ = bw.WriteString("Content-Length: ")
			_, _ = bw.Write(strconv.AppendInt(num, w.wrote, 10))
			_, _ = bw.WriteString("\r\n")
		}
	} else if chunked {
		h.Del("Content-Length")
		w.chunk = true
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	} else if w.length < 0 {
		w.length = int64(len(w.held))
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num, w.length, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if _, ok := h["Content-Type"]; !ok && !w.fwdType && len(w.held) > 0 && !w.noBody {
		_, _ = bw.WriteString("Content-Type: ")
		_, _ = bw.WriteString(http.DetectContentType(w.held))
		_, _ = bw.WriteString("\r\n")
	}
	if w.close || w.req.Close || w.closing() || connectionClose(h) {
		w.close = true
		if _, ok := h["Connection"]; !ok {
			_, _ = bw.WriteString("Connection: close\r\n")
		}
	}
	for k, vs := range h {
		if k == "Transfer-Encoding" || !validName(k) {
			continue
		}
		for _, v := range vs {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			writeValue(bw, v)
			_, _ = bw.WriteString("\r\n")
		}
	}
	if w.forwarded {
		_, _ = bw.Write(w.fwd)
	}
	_, _ = bw.WriteString("\r\n")
	if len(w.held) > 0 && !w.noBody {
		if w.chunk {
			_ = w.chunkOut(w.held)
		} else {
			_, _ = bw.Write(w.held)
		}
	}
	w.held = w.held[:0]
}

// Finish ends the answer; false means the connection cannot carry another one.
func (w *Writer) Finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.head {
		w.writeHead(false, true)
	}
	if w.chunk {
		_, _ = w.out.WriteString("0\r\n\r\n")
	} else if !w.noBody && w.wrote != w.length {
		return false // fewer bytes than its Content-Length: the client must see it cut
	}
	return w.failed == nil
}

// Flush sends what was written so far; an answer of unknown length goes chunked from then on.
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (w *Writer) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.head {
		w.writeHead(w.length < 0, false)
	}
	if err := w.out.Flush(); err != nil {
		w.failed = err
		return err
	}
	return nil
}

// SetReadDeadline and SetWriteDeadline move the connection's deadlines, for
// http.ResponseController.
func (w *Writer) SetReadDeadline(t time.Time) error  { return w.conn.SetReadDeadline(t) }
func (w *Writer) SetWriteDeadline(t time.Time) error { return w.conn.SetWriteDeadline(t) }

// Sink is where a Writer writes: a bufio.Writer on the connection for the lane, the event
// loop's output buffer for it.
type Sink interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
	Flush() error
}

type deadliner interface {
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// NewWriter is a Writer on out; closing reports a shutdown, conn moves the connection's
// deadlines (http.ResponseController).
func NewWriter(out Sink, closing func() bool, conn interface {
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}) *Writer {
	return &Writer{out: out, closing: closing, conn: conn}
}

// Closes reports whether the connection ends after this answer (Connection: close, a
// shutdown, an answer cut).
func (w *Writer) Closes() bool { return w.close || w.req.Close }

func connectionClose(h http.Header) bool {
	return slices.ContainsFunc(h["Connection"], func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "close") })
}

// validName reports whether k may be written as a header name (a token).
func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := range len(k) {
		b := k[i]
		if b <= ' ' || b >= 0x7f || b == ':' {
			return false
		}
	}
	return true
}

// writeValue writes v with CR and LF as spaces, as net/http does, so no value starts a line.
func writeValue(bw interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}, v string) {
	if !strings.ContainsAny(v, "\r\n") {
		_, _ = bw.WriteString(v)
		return
	}
	for i := range len(v) {
		b := v[i]
		if b == '\r' || b == '\n' {
			b = ' '
		}
		_ = bw.WriteByte(b)
	}
}

// httpDate is the Date header's value, made once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := date.Load(); d != nil && d.unix == now {
		return d.s
	}
	d := &dated{unix: now, s: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	date.Store(d)
	return d.s
}

type dated struct {
	unix int64
	s    string
}

var date atomic.Pointer[dated]
