package media

import (
	"testing"

	"github.com/stretchr/testify/require"
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
