package loop

import (
	"errors"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
)

// chunked decodes a chunked body as it arrives, in pieces of any size: the event loop cannot
// wait on a reader as httputil's chunked reader does.
type chunked struct {
	state  int
	remain int64  // of the current chunk's data
	line   []byte // a size or trailer line not yet whole
	lines  int    // trailer lines
}

const (
	chunkSize    = iota // reading a size line
	chunkData           // reading data
	chunkDataEnd        // the CRLF after data
	chunkTrailer        // trailer lines, up to the blank one
	chunkDone
)

const (
	maxChunkLine     = 4 << 10
	maxTrailerLines  = 100
	maxChunkSizeBits = 48
)

var errChunk = errors.New("chunked body")

func (d *chunked) reset() { d.state, d.remain, d.line, d.lines = chunkSize, 0, d.line[:0], 0 }

// feed decodes p, giving each piece of data to out (false from out stops it). It returns how
// many bytes of p it consumed — all of them, unless the body ended before p did — and whether
// the body ended.
func (d *chunked) feed(p []byte, out func([]byte) bool) (n int, done bool, err error) {
	for n < len(p) && d.state != chunkDone {
		switch d.state {
		case chunkData:
			k := min(int64(len(p)-n), d.remain)
			if !out(p[n : n+int(k)]) {
				return n + int(k), false, errStopped
			}
			n += int(k)
			d.remain -= k
			if d.remain == 0 {
				d.state = chunkDataEnd
			}
		case chunkSize, chunkTrailer, chunkDataEnd:
			line, used, whole := d.take(p[n:])
			n += used
			if !whole {
				if len(d.line) > maxChunkLine {
					return n, false, fmt.Errorf("%w: line over %d bytes", pool.ErrBadAnswer, maxChunkLine)
				}
				continue
			}
			if err := d.lineDone(line); err != nil {
				return n, false, err
			}
		}
	}
	return n, d.state == chunkDone, nil
}

// errStopped is out's refusal.
var errStopped = errors.New("stopped")

// take gathers a line: it returns the line (without its CRLF) once whole, and the bytes of p
// it used.
func (d *chunked) take(p []byte) (line []byte, used int, whole bool) {
	for i, b := range p {
		if b == '\n' {
			d.line = append(d.line, p[:i]...)
			line = d.line
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			return line, i + 1, true
		}
	}
	d.line = append(d.line, p...)
	return nil, len(p), false
}

func (d *chunked) lineDone(line []byte) error {
	defer func() { d.line = d.line[:0] }()
	switch d.state {
	case chunkDataEnd:
		if len(line) != 0 {
			return fmt.Errorf("%w: %w: no CRLF after a chunk", pool.ErrBadAnswer, errChunk)
		}
		d.state = chunkSize
	case chunkSize:
		size, err := chunkLen(line)
		if err != nil {
			return err
		}
		if size == 0 {
			d.state = chunkTrailer
			return nil
		}
		d.remain, d.state = size, chunkData
	case chunkTrailer:
		if len(line) == 0 {
			d.state = chunkDone
			return nil
		}
		if d.lines++; d.lines > maxTrailerLines {
			return fmt.Errorf("%w: %w: trailer", pool.ErrBadAnswer, errChunk)
		}
	}
	return nil
}

// chunkLen reads a chunk size line: hex digits, then optional extensions after ';'.
func chunkLen(line []byte) (int64, error) {
	var n int64
	digits := 0
	for _, b := range line {
		var v byte
		switch {
		case b >= '0' && b <= '9':
			v = b - '0'
		case b >= 'a' && b <= 'f':
			v = b - 'a' + 10
		case b >= 'A' && b <= 'F':
			v = b - 'A' + 10
		case b == ';' || b == ' ' || b == '\t':
			if digits == 0 {
				return 0, fmt.Errorf("%w: %w: size %q", pool.ErrBadAnswer, errChunk, line)
			}
			return n, nil
		default:
			return 0, fmt.Errorf("%w: %w: size %q", pool.ErrBadAnswer, errChunk, line)
		}
		if digits++; digits > maxChunkSizeBits/4 {
			return 0, fmt.Errorf("%w: %w: size %q too large", pool.ErrBadAnswer, errChunk, line)
		}
		n = n<<4 | int64(v)
	}
	if digits == 0 {
		return 0, fmt.Errorf("%w: %w: empty size line", pool.ErrBadAnswer, errChunk)
	}
	return n, nil
}
