package comet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// WebSocket framing. The comet writes server frames itself (unmasked, FIN
// set, binary) so one pre-built frame can be written to every connection of
// a room; it reads client frames with gobwas/ws's header parser and unmasks
// payloads in place, exposing the data frames as one byte stream to the same
// packet reader raw TCP uses.

const (
	wsOpBinary = ws.OpBinary
	// wsMaxServerHeader is the largest unmasked frame header (8-byte length).
	wsMaxServerHeader = 10
	// wsMaxControl is the largest control-frame payload RFC 6455 allows.
	wsMaxControl = 125
)

// errWSFrame marks malformed WebSocket framing from a client.
var errWSFrame = errors.New("comet: bad websocket frame")

// wsHeaderLen is the size of an unmasked frame header for n payload bytes.
func wsHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// appendWSHeader appends an unmasked, final frame header for n bytes.
func appendWSHeader(dst []byte, op ws.OpCode, n int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
}

// wsReader turns a client's WebSocket frames into a byte stream of their
// data payloads. Pings are answered, pongs skipped, a close frame ends the
// stream with io.EOF after echoing it.
type wsReader struct {
	src       io.Reader
	c         *conn
	s         *Service
	hdr       [ws.MaxHeaderSize]byte
	remaining int64
	mask      [4]byte
	off       int
	// atBoundary is set by a reader about to read a packet of a connection
	// that it will park again (poller): a control frame found before any of
	// the packet's bytes then ends the read with errControlOnly, and the
	// connection goes back to the poller instead of holding a goroutine
	// until the client's next data frame.
	atBoundary bool
}

// errControlOnly ends a read at a packet boundary after a control frame.
var errControlOnly = errors.New("websocket control frame only")

func (r *wsReader) Read(p []byte) (int, error) {
	for r.remaining == 0 {
		h, err := ws.ReadHeaderBuffer(r.src, r.hdr[:])
		if err != nil {
			if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
				return 0, fmt.Errorf("%w: %w", errWSFrame, err)
			}
			return 0, err
		}
		if !h.Masked || h.Rsv != 0 {
			return 0, fmt.Errorf("%w: masked=%v rsv=%d", errWSFrame, h.Masked, h.Rsv)
		}
		if h.OpCode.IsControl() {
			if err := r.control(h); err != nil {
				return 0, err
			}
			if r.atBoundary {
				return 0, errControlOnly
			}
			continue
		}
		if h.OpCode.IsReserved() {
			return 0, fmt.Errorf("%w: opcode %d", errWSFrame, h.OpCode)
		}
		// Binary, text and continuation frames all carry packet bytes; a
		// packet may span frames.
		r.remaining, r.mask, r.off = h.Length, h.Mask, 0
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.src.Read(p)
	if n > 0 {
		r.atBoundary = false
	}
	ws.Cipher(p[:n], r.mask, r.off)
	r.off += n
	r.remaining -= int64(n)
	if err == io.EOF && r.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// control handles a ping, pong or close frame.
func (r *wsReader) control(h ws.Header) error {
	if !h.Fin || h.Length > wsMaxControl {
		return fmt.Errorf("%w: control frame fin=%v len=%d", errWSFrame, h.Fin, h.Length)
	}
	var buf [wsMaxControl]byte
	payload := buf[:h.Length]
	if _, err := io.ReadFull(r.src, payload); err != nil {
		return err
	}
	ws.Cipher(payload, h.Mask, 0)
	switch h.OpCode {
	case ws.OpPing:
		r.reply(ws.OpPong, payload)
		return nil
	case ws.OpPong:
		return nil
	case ws.OpClose:
		r.reply(ws.OpClose, payload[:min(len(payload), 2)]) // echo the status code
		return io.EOF
	}
	return fmt.Errorf("%w: opcode %d", errWSFrame, h.OpCode)
}

// reply sends a control frame: through Service.reply once the connection
// joined its room (direct when nothing else is pending, queued otherwise),
// directly before that (the reader is then the only writer).
func (r *wsReader) reply(op ws.OpCode, payload []byte) {
	f := append(appendWSHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
	if r.c.joined {
		r.s.reply(r.c, f)
		return
	}
	_ = r.c.writeDirect(f, r.s.cfg.WriteTimeout)
}
