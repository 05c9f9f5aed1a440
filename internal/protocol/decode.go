package protocol

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zlib"
)

// InflateFactor bounds how much larger than maxSize the decompressed body of
// one compressed packet may be in DecodeAll, so a tiny hostile packet cannot
// expand into gigabytes.
const InflateFactor = 16

// ReadPacket reads exactly one packet from r, validating the header against
// maxSize (non-positive means DefaultMaxPacket). buf is scratch space: when
// cap(buf) holds the whole packet, Body aliases buf and is valid until buf is
// reused; otherwise a new buffer is allocated, and grown as the body's bytes
// arrive rather than sized from the header, so a peer that announces a large
// packet and stalls makes the reader hold about what it sent (at most
// max(minGrow, twice that)), never what it announced. A clean end of stream
// before any header byte returns io.EOF; a stream that ends mid-packet
// returns io.ErrUnexpectedEOF. Protocol violations return an error wrapping
// one of the sentinels in errors.go, with the header fields read so far in
// the Packet.
func ReadPacket(r io.Reader, buf []byte, maxSize int) (Packet, error) {
	if cap(buf) < HeaderLen {
		buf = make([]byte, HeaderLen)
	}
	if _, err := io.ReadFull(r, buf[:HeaderLen]); err != nil {
		return Packet{}, err
	}
	h, err := ParseHeader(buf[:HeaderLen], maxSize)
	p := Packet{Ver: h.Ver, Op: h.Op, Seq: h.Seq}
	if err != nil {
		return p, err
	}
	if cap(buf) >= h.PacketLen {
		buf = buf[:h.PacketLen]
		if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
			return p, unexpectedEOF(err)
		}
	} else if buf, err = readGrowing(r, buf[:HeaderLen], h.PacketLen); err != nil {
		return p, err
	}
	p.Body = buf[HeaderLen:]
	return p, nil
}

// minGrow is the first allocation for a packet larger than the caller's
// buffer: an auth packet with a long key fits.
const minGrow = 512

// readGrowing reads the rest of a packet of size bytes whose first len(buf)
// bytes are in buf, doubling the buffer only when the bytes read so far
// fill it.
func readGrowing(r io.Reader, buf []byte, size int) ([]byte, error) {
	n := len(buf)
	buf = buf[:cap(buf)]
	for n < size {
		if n == len(buf) {
			nb := make([]byte, min(size, max(2*len(buf), minGrow)))
			copy(nb, buf[:n])
			buf = nb
		}
		m, err := r.Read(buf[n:min(len(buf), size)])
		n += m
		if err != nil && n < size {
			return nil, unexpectedEOF(err)
		}
	}
	return buf[:size], nil
}

// unexpectedEOF turns the end of the stream inside a packet into
// io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decoder reads packets from a buffered stream. Packets that fit in the
// bufio buffer are returned without copying.
type Decoder struct {
	r       *bufio.Reader
	maxSize int
	buf     []byte
}

// NewDecoder returns a Decoder over r (used as-is when it already is a
// *bufio.Reader). maxSize bounds one packet; non-positive means
// DefaultMaxPacket.
func NewDecoder(r io.Reader, maxSize int) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxPacket
	}
	return &Decoder{r: br, maxSize: maxSize}
}

// Next returns the next packet. Its Body is valid until the next call. Errors
// are those of ReadPacket.
func (d *Decoder) Next() (Packet, error) {
	hdr, err := d.r.Peek(HeaderLen)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err == bufio.ErrBufferFull {
			// The bufio buffer is smaller than a header; fall back to copying.
			return ReadPacket(d.r, d.buf, d.maxSize)
		}
		return Packet{}, err
	}
	h, err := ParseHeader(hdr, d.maxSize)
	p := Packet{Ver: h.Ver, Op: h.Op, Seq: h.Seq}
	if err != nil {
		return p, err
	}
	if h.PacketLen <= d.r.Size() {
		b, err := d.r.Peek(h.PacketLen)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return p, err
		}
		p.Body = b[HeaderLen:]
		_, _ = d.r.Discard(h.PacketLen)
		return p, nil
	}
	if cap(d.buf) < h.PacketLen {
		d.buf = make([]byte, h.PacketLen)
	}
	p, err = ReadPacket(d.r, d.buf[:cap(d.buf)], d.maxSize)
	return p, err
}

// DecodeAll splits b into packets. Compressed op-5 packets (VerZlib,
// VerBrotli) are replaced by the packets inside them, so the result holds
// only plain packets, in order. maxSize bounds every packet (non-positive
// means DefaultMaxPacket); a compressed body may expand to at most
// InflateFactor*maxSize bytes. Bodies alias b or a fresh decompression
// buffer. Used by clients and tests; the server never decompresses.
func DecodeAll(b []byte, maxSize int) ([]Packet, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxPacket
	}
	return decodeAll(nil, b, maxSize, 0)
}

func decodeAll(out []Packet, b []byte, maxSize, depth int) ([]Packet, error) {
	for off := 0; off < len(b); {
		h, err := ParseHeader(b[off:], maxSize)
		if err != nil {
			return out, fmt.Errorf("packet at offset %d: %w", off, err)
		}
		if len(b)-off < h.PacketLen {
			return out, fmt.Errorf("packet at offset %d: %w", off,
				errorf(ErrTruncated, "have %d of %d bytes", len(b)-off, h.PacketLen))
		}
		body := b[off+HeaderLen : off+h.PacketLen]
		off += h.PacketLen
		if h.Op == OpMessage && (h.Ver == VerZlib || h.Ver == VerBrotli) {
			if depth > 0 {
				return out, errorf(ErrDecompress, "nested compressed packet")
			}
			inner, err := inflate(h.Ver, body, InflateFactor*maxSize)
			if err != nil {
				return out, err
			}
			if out, err = decodeAll(out, inner, maxSize, depth+1); err != nil {
				return out, err
			}
			continue
		}
		out = append(out, Packet{Ver: h.Ver, Op: h.Op, Seq: h.Seq, Body: body})
	}
	return out, nil
}

// inflate decompresses body (zlib or brotli) refusing more than limit bytes.
func inflate(ver uint16, body []byte, limit int) ([]byte, error) {
	var r io.Reader
	switch ver {
	case VerZlib:
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, wrapErr(ErrDecompress, "zlib header", err)
		}
		defer zr.Close()
		r = zr
	default:
		r = brotli.NewReader(bytes.NewReader(body))
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, wrapErr(ErrDecompress, "stream", err)
	}
	if len(out) > limit {
		return nil, errorf(ErrTooLarge, "compressed body expands beyond %d bytes", limit)
	}
	return out, nil
}
