package bench

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zlib"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// maxPacket bounds one packet the generator accepts (the server's default is 64 KiB).
const maxPacket = 1 << 20

// frameDecoder turns one transport unit (a WebSocket message or a TCP packet) into the bench
// stamps of the DANMU_MSG messages inside it, reusing its decompressors and buffers.
type frameDecoder struct {
	in  bytes.Reader
	zr  io.ReadCloser
	br  *brotli.Reader
	out bytes.Buffer
}

// decode appends the stamps found in unit to dst.
func (d *frameDecoder) decode(dst []stamp, unit []byte) ([]stamp, error) {
	return d.walk(dst, unit, 0)
}

func (d *frameDecoder) walk(dst []stamp, b []byte, depth int) ([]stamp, error) {
	for off := 0; off < len(b); {
		h, err := protocol.ParseHeader(b[off:], maxPacket)
		if err != nil {
			return dst, err
		}
		if len(b)-off < h.PacketLen {
			return dst, fmt.Errorf("bench: truncated packet (%d of %d bytes)", len(b)-off, h.PacketLen)
		}
		body := b[off+protocol.HeaderLen : off+h.PacketLen]
		off += h.PacketLen
		if h.Op != protocol.OpMessage {
			continue
		}
		switch h.Ver {
		case protocol.VerZlib, protocol.VerBrotli:
			if depth > 0 {
				return dst, fmt.Errorf("bench: nested compressed packet")
			}
			inner, err := d.inflate(h.Ver, body)
			if err != nil {
				return dst, err
			}
			if dst, err = d.walk(dst, inner, 1); err != nil {
				return dst, err
			}
		default:
			if st, ok := scanDanmu(body); ok {
				dst = append(dst, st)
			}
		}
	}
	return dst, nil
}

// inflate decompresses body into d.out; the result is valid until the next call.
func (d *frameDecoder) inflate(ver uint16, body []byte) ([]byte, error) {
	d.in.Reset(body)
	d.out.Reset()
	var r io.Reader
	if ver == protocol.VerZlib {
		if d.zr == nil {
			zr, err := zlib.NewReader(&d.in)
			if err != nil {
				return nil, fmt.Errorf("bench: zlib: %w", err)
			}
			d.zr = zr
		} else if err := d.zr.(zlib.Resetter).Reset(&d.in, nil); err != nil {
			return nil, fmt.Errorf("bench: zlib: %w", err)
		}
		r = d.zr
	} else {
		if d.br == nil {
			d.br = brotli.NewReader(&d.in)
		} else if err := d.br.Reset(&d.in); err != nil {
			return nil, fmt.Errorf("bench: brotli: %w", err)
		}
		r = d.br
	}
	if _, err := d.out.ReadFrom(io.LimitReader(r, protocol.InflateFactor*maxPacket)); err != nil {
		return nil, fmt.Errorf("bench: inflate: %w", err)
	}
	return d.out.Bytes(), nil
}

// frameCache remembers the stamps of recently decoded units by a hash of their bytes. Every
// connection of a room receives the very same bytes for a batch, so a batch is decompressed
// and scanned once, not once per viewer: the generator spends its CPU reading sockets and
// checking sequences, and does not become the bottleneck of the system it measures. Each
// connection still hashes its own bytes, so a corrupted or different unit is decoded on its own.
type frameCache struct {
	seed   maphash.Seed
	shards [64]cacheShard
	pool   sync.Pool // *frameDecoder
}

type cacheShard struct {
	mu sync.Mutex
	m  map[cacheKey][]stamp
}

type cacheKey struct {
	hash uint64
	n    int
}

// cacheShardMax bounds each shard; a full shard is cleared (batches are only ever re-read
// within the moment they reach every viewer).
const cacheShardMax = 1024

func newFrameCache() *frameCache {
	c := &frameCache{seed: maphash.MakeSeed()}
	c.pool.New = func() any { return new(frameDecoder) }
	return c
}

// stamps returns the stamps in unit; the slice is shared and must not be modified.
func (c *frameCache) stamps(unit []byte) ([]stamp, error) {
	k := cacheKey{hash: maphash.Bytes(c.seed, unit), n: len(unit)}
	sh := &c.shards[k.hash%uint64(len(c.shards))]
	sh.mu.Lock()
	st, ok := sh.m[k]
	sh.mu.Unlock()
	if ok {
		return st, nil
	}
	d := c.pool.Get().(*frameDecoder)
	st, err := d.decode(nil, unit)
	c.pool.Put(d)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= cacheShardMax {
		sh.m = make(map[cacheKey][]stamp, cacheShardMax)
	}
	sh.m[k] = st
	sh.mu.Unlock()
	return st, nil
}
