package media

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/q191201771/lal/pkg/rtmp"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// chunk0 is a fmt-0 chunk header on csid (2..63) announcing a message of n bytes of type typ
// with timestamp ts (0xFFFFFF and above are sent as an extended timestamp).
func chunk0(csid byte, ts uint32, n int, typ byte) []byte {
	field := min(ts, rtmpMaxTimestamp)
	b := []byte{csid, byte(field >> 16), byte(field >> 8), byte(field), byte(n >> 16), byte(n >> 8), byte(n), typ, 1, 0, 0, 0}
	if ts >= rtmpMaxTimestamp {
		b = append(b, byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts))
	}
	return b
}

func fed(t *testing.T, g *chunkGuard, parts ...[]byte) error {
	t.Helper()
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	// byte by byte: the framing must not depend on how reads split the stream
	for i := range all {
		if err := g.feed(all[i : i+1]); err != nil {
			return err
		}
	}
	return nil
}

func TestChunkGuard(t *testing.T) {
	hs := handshake()
	t.Run("too many chunk streams", func(t *testing.T) {
		g := newChunkGuard()
		var b []byte
		for csid := byte(2); csid < 2+maxChunkStreams; csid++ {
			b = append(b, chunk0(csid, 0, 0, 20)...)
		}
		require.NoError(t, fed(t, g, hs, b))
		require.ErrorIs(t, fed(t, g, chunk0(2+maxChunkStreams, 0, 0, 20)), errRTMPGuard)
	})
	t.Run("message too large before publish", func(t *testing.T) {
		g := newChunkGuard()
		require.ErrorIs(t, fed(t, g, hs, chunk0(3, 0, maxMsgBeforePublish+1, 20)), errRTMPGuard)
	})
	t.Run("message too large while publishing", func(t *testing.T) {
		g := newChunkGuard()
		g.published = true
		require.NoError(t, fed(t, g, hs, chunk0(4, 0, 1<<20, 9)))
		g = newChunkGuard()
		g.published = true
		require.ErrorIs(t, fed(t, g, hs, chunk0(4, 0, maxMsgPublishing+1, 9)), errRTMPGuard)
	})
	t.Run("framing follows chunk size and extended timestamps", func(t *testing.T) {
		g := newChunkGuard()
		g.published = true
		setChunk := append(chunk0(2, 0, 4, rtmpTypeSetChunk), 0, 0, 0x10, 0) // 4096
		// a 10000-byte video message at a timestamp past 0xFFFFFF: a fmt-0 chunk of 4096
		// bytes, then two fmt-3 chunks, each with the extended timestamp again
		big := 10000
		var msg []byte
		msg = append(msg, chunk0(6, 0x01000000, big, 9)...)
		msg = append(msg, make([]byte, 4096)...)
		for _, n := range []int{4096, big - 8192} {
			msg = append(msg, 0xC6, 0x01, 0, 0, 0) // fmt 3 on csid 6, extended timestamp
			msg = append(msg, make([]byte, n)...)
		}
		// then a small message on a new chunk stream: still in step
		tail := append(chunk0(3, 5, 3, 20), 1, 2, 3)
		require.NoError(t, fed(t, g, hs, setChunk, msg, tail))
		require.Equal(t, uint32(4096), g.chunkSize)
		require.Equal(t, gBasic, g.state)
		require.Len(t, g.streams, 3)
		// one byte of a header that would be garbage if the framing had slipped
		require.NoError(t, g.feed([]byte{0x03}))
		require.Equal(t, gMsgHeader, g.state)
	})
	t.Run("csid forms of one and two bytes", func(t *testing.T) {
		g := newChunkGuard()
		b := []byte{0x00, 10} // csid 74
		b = append(b, chunk0(2, 0, 0, 20)[1:]...)
		b = append(b, 0x01, 1, 1) // csid 64+1+256
		b = append(b, chunk0(2, 0, 2, 20)[1:]...)
		b = append(b, 7, 7)
		require.NoError(t, fed(t, g, hs, b))
		require.Contains(t, g.streams, 74)
		require.Contains(t, g.streams, 321)
		require.Equal(t, gBasic, g.state)
	})
}

// TestChunkGuardFramesAsLal: on generated chunk streams (several chunk streams, every header
// form, chunk size changes, extended timestamps, messages split over many chunks) the guard
// completes exactly the messages lal's own chunk reader completes, and ends in step with it.
func TestChunkGuardFramesAsLal(t *testing.T) {
	bridgeLalLog(obs.Discard())
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		b := genChunks(r, 1+r.IntN(40))
		var lalMsgs int
		err := rtmp.NewChunkComposer().RunLoop(bytes.NewReader(b), func(*rtmp.Stream) error { lalMsgs++; return nil })
		require.ErrorIs(t, err, io.EOF, "round %d", round)
		g := newChunkGuard()
		g.skip = 0
		g.published = true
		require.NoError(t, fed(t, g, b), "round %d", round)
		require.Equal(t, lalMsgs, g.messages, "round %d", round)
		require.Equal(t, gBasic, g.state, "round %d", round)
	}
}

// genChunks writes n messages as an encoder could: fmt 0 for a chunk stream's first message,
// fmt 1 or 2 after, fmt 3 continuations, extended timestamps past 0xFFFFFF, and Set Chunk
// Size messages on chunk stream 2.
func genChunks(r *rand.Rand, n int) []byte {
	var out []byte
	chunk := uint32(rtmpDefaultChunk)
	type last struct {
		n   int
		typ byte
	}
	seen := map[byte]last{}
	for i := 0; i < n; i++ {
		if r.IntN(6) == 0 {
			size := uint32(16 + r.IntN(5000)) // never below 4: the message itself fits one chunk
			out = append(out, chunk0(2, 0, 4, rtmpTypeSetChunk)...)
			out = append(out, byte(size>>24), byte(size>>16), byte(size>>8), byte(size))
			chunk = size
			seen[2] = last{4, rtmpTypeSetChunk}
			continue
		}
		csid := byte(3 + r.IntN(5))
		l := r.IntN(3000)
		typ := []byte{8, 9, 18, 20}[r.IntN(4)]
		ts := uint32(r.IntN(1000))
		if r.IntN(5) == 0 {
			ts = rtmpMaxTimestamp + uint32(r.IntN(1<<20))
		}
		field := min(ts, rtmpMaxTimestamp)
		prev, ok := seen[csid]
		switch {
		case !ok:
			out = append(out, chunk0(csid, ts, l, typ)...)
		case prev.n == l && prev.typ == typ:
			out = append(out, 0x80|csid, byte(field>>16), byte(field>>8), byte(field)) // fmt 2
		default:
			out = append(out, 0x40|csid, byte(field>>16), byte(field>>8), byte(field), byte(l>>16), byte(l>>8), byte(l), typ)
		}
		if ok && ts >= rtmpMaxTimestamp {
			out = append(out, byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts))
		}
		seen[csid] = last{l, typ}
		body := make([]byte, l)
		if uint32(l) <= chunk {
			out = append(out, body...)
			continue
		}
		for sent := 0; sent < l; {
			if sent > 0 {
				out = append(out, 0xC0|csid) // fmt 3
				if ts >= rtmpMaxTimestamp {
					out = append(out, byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts))
				}
			}
			k := min(int(chunk), l-sent)
			out = append(out, body[sent:sent+k]...)
			sent += k
		}
	}
	return out
}
