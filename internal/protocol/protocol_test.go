package protocol

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeaderLayout(t *testing.T) {
	require.Equal(t, 16, HeaderLen)
	require.Equal(t, []int{0, 4, 6, 8, 12}, []int{PacketLenOffset, HeaderLenOffset, VerOffset, OpOffset, SeqOffset})
}

// The auth reply example of the public protocol reference, byte for byte.
func TestAppendAuthReplyMatchesReference(t *testing.T) {
	want, err := hex.DecodeString("0000001a001000010000000800000001" + hex.EncodeToString([]byte(`{"code":0}`)))
	require.NoError(t, err)
	require.Equal(t, want, AppendAuthReply(nil, 1, AuthCodeOK))
}

func TestAppendHeartbeatReply(t *testing.T) {
	got := AppendHeartbeatReply([]byte("x"), 7, 2466)
	want, _ := hex.DecodeString("78" + "00000014001000010000000300000007" + "000009a2")
	require.Equal(t, want, got)
	pop, ok := Popularity(got[1+HeaderLen:])
	require.True(t, ok)
	require.EqualValues(t, 2466, pop)
	_, ok = Popularity([]byte{1})
	require.False(t, ok)
	require.Equal(t, []byte{0, 0, 0, 0}, HeartbeatReplyBody(-5))
	require.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, HeartbeatReplyBody(1<<40))
}

func TestAppendPacketRoundTrip(t *testing.T) {
	b := AppendPacket(nil, VerPlain, OpMessage, 9, []byte(`{"cmd":"LIVE"}`))
	h, err := ParseHeader(b, 0)
	require.NoError(t, err)
	require.Equal(t, Header{PacketLen: len(b), Ver: VerPlain, Op: OpMessage, Seq: 9}, h)
	require.Equal(t, 14, h.BodyLen())
}

func header(plen uint32, hlen uint16, ver uint16, op uint32) []byte {
	b := make([]byte, HeaderLen)
	PutHeader(b, 0, ver, op, 1)
	b[0], b[1], b[2], b[3] = byte(plen>>24), byte(plen>>16), byte(plen>>8), byte(plen)
	b[4], b[5] = byte(hlen>>8), byte(hlen)
	return b
}

func TestParseHeaderErrors(t *testing.T) {
	cases := []struct {
		name   string
		b      []byte
		max    int
		want   *Error
		reason string
	}{
		{"truncated", []byte{0, 0, 0}, 0, ErrTruncated, "truncated"},
		{"header len", header(16, 12, 1, OpAuth), 0, ErrHeaderLen, "header_len"},
		{"short", header(10, 16, 1, OpAuth), 0, ErrShort, "short"},
		{"too large", header(1025, 16, 1, OpAuth), 1024, ErrTooLarge, "too_large"},
		{"too large default", header(DefaultMaxPacket+1, 16, 1, OpAuth), 0, ErrTooLarge, "too_large"},
		{"huge", header(0xffffffff, 16, 1, OpAuth), 1 << 62, ErrTooLarge, "too_large"},
		{"version", header(16, 16, 4, OpAuth), 0, ErrVersion, "version"},
		{"unknown op", header(16, 16, 1, 6), 0, ErrUnknownOp, "unknown_op"},
		{"op zero", header(16, 16, 1, 0), 0, ErrUnknownOp, "unknown_op"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseHeader(c.b, c.max)
			require.ErrorIs(t, err, c.want)
			require.Equal(t, c.reason, Reason(err))
			var pe *Error
			require.True(t, errors.As(err, &pe))
		})
	}
	require.Equal(t, "", Reason(errors.New("other")))
	require.Equal(t, "", Reason(nil))
}

func TestKnownOp(t *testing.T) {
	for op := uint32(0); op < 12; op++ {
		want := op == 2 || op == 3 || op == 5 || op == 7 || op == 8
		require.Equal(t, want, KnownOp(op), "op %d", op)
	}
}
