package protocol

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zlib"
	"github.com/stretchr/testify/require"
)

func TestReadPacket(t *testing.T) {
	var stream []byte
	stream = AppendHeartbeat(stream, 1)
	stream = AppendAuth(stream, 2, AuthBody{RoomID: 5, ProtoVer: 3, Key: "k"})
	r := bytes.NewReader(stream)
	buf := make([]byte, 0, 512)

	p, err := ReadPacket(r, buf, 0)
	require.NoError(t, err)
	require.Equal(t, Packet{Ver: VerInt, Op: OpHeartbeat, Seq: 1, Body: []byte{}}, p)

	p, err = ReadPacket(r, buf, 0)
	require.NoError(t, err)
	require.Equal(t, OpAuth, p.Op)
	require.EqualValues(t, 2, p.Seq)
	require.Same(t, &buf[:cap(buf)][HeaderLen], &p.Body[0], "body aliases buf when it fits")
	a, err := ParseAuth(p.Body)
	require.NoError(t, err)
	require.EqualValues(t, 5, a.RoomID)

	_, err = ReadPacket(r, buf, 0)
	require.ErrorIs(t, err, io.EOF)
}

func TestReadPacketAllocatesWhenBufferSmall(t *testing.T) {
	body := bytes.Repeat([]byte("a"), 300)
	p, err := ReadPacket(bytes.NewReader(AppendPacket(nil, VerPlain, OpMessage, 0, body)), nil, 0)
	require.NoError(t, err)
	require.Equal(t, body, p.Body)
}

func TestReadPacketErrors(t *testing.T) {
	full := AppendPacket(nil, VerInt, OpAuth, 3, []byte(`{"roomid":1}`))
	_, err := ReadPacket(bytes.NewReader(full[:10]), nil, 0)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = ReadPacket(bytes.NewReader(full[:20]), nil, 0)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = ReadPacket(bytes.NewReader(full[:HeaderLen]), nil, 0)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	p, err := ReadPacket(bytes.NewReader(full), nil, HeaderLen+4)
	require.ErrorIs(t, err, ErrTooLarge)
	require.Equal(t, OpAuth, p.Op, "header fields are reported with the error")

	for _, c := range []struct {
		b    []byte
		want error
	}{
		{header(16, 20, 1, OpAuth), ErrHeaderLen},
		{header(15, 16, 1, OpAuth), ErrShort},
		{header(16, 16, 9, OpAuth), ErrVersion},
		{header(16, 16, 1, 99), ErrUnknownOp},
	} {
		_, err := ReadPacket(bytes.NewReader(c.b), nil, 0)
		require.ErrorIs(t, err, c.want)
	}
}

func TestDecoder(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 100)
	var stream []byte
	stream = AppendHeartbeat(stream, 1)
	stream = AppendPacket(stream, VerPlain, OpMessage, 2, big)
	stream = AppendHeartbeat(stream, 3)
	// A 16-byte bufio buffer forces the copying path for the big packet.
	d := NewDecoder(bufio.NewReaderSize(bytes.NewReader(stream), 16), 0)
	for i, want := range []struct {
		op   uint32
		body []byte
	}{{OpHeartbeat, []byte{}}, {OpMessage, big}, {OpHeartbeat, []byte{}}} {
		p, err := d.Next()
		require.NoError(t, err, i)
		require.Equal(t, want.op, p.Op)
		require.Equal(t, want.body, p.Body)
		require.EqualValues(t, i+1, p.Seq)
	}
	_, err := d.Next()
	require.ErrorIs(t, err, io.EOF)

	d = NewDecoder(bytes.NewReader(stream[:HeaderLen+5]), 0)
	_, err = d.Next()
	require.NoError(t, err) // the heartbeat, then a partial packet
	_, err = d.Next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	d = NewDecoder(bytes.NewReader(header(16, 16, 1, 42)), 0)
	_, err = d.Next()
	require.ErrorIs(t, err, ErrUnknownOp)
}

func compress(t testing.TB, ver uint16, b []byte) []byte {
	var out bytes.Buffer
	var w io.WriteCloser
	if ver == VerZlib {
		w = zlib.NewWriter(&out)
	} else {
		w = brotli.NewWriter(&out)
	}
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

func TestDecodeAll(t *testing.T) {
	inner := AppendPacket(nil, VerPlain, OpMessage, 0, []byte(`{"cmd":"A"}`))
	inner = AppendPacket(inner, VerPlain, OpMessage, 0, []byte(`{"cmd":"B"}`))
	var b []byte
	b = AppendHeartbeatReply(b, 1, 10)
	b = AppendPacket(b, VerZlib, OpMessage, 0, compress(t, VerZlib, inner))
	b = AppendPacket(b, VerBrotli, OpMessage, 0, compress(t, VerBrotli, inner))
	b = AppendPacket(b, VerPlain, OpMessage, 0, []byte(`{"cmd":"C"}`))
	ps, err := DecodeAll(b, 0)
	require.NoError(t, err)
	var cmds []string
	for _, p := range ps {
		cmds = append(cmds, string(p.Body))
	}
	require.Len(t, ps, 6)
	require.Equal(t, OpHeartbeatReply, ps[0].Op)
	require.Equal(t, []string{`{"cmd":"A"}`, `{"cmd":"B"}`, `{"cmd":"A"}`, `{"cmd":"B"}`, `{"cmd":"C"}`}, cmds[1:])
	empty, err := DecodeAll(nil, 0)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestDecodeAllErrors(t *testing.T) {
	ok := AppendPacket(nil, VerPlain, OpMessage, 0, []byte(`{}`))
	_, err := DecodeAll(ok[:len(ok)-1], 0)
	require.ErrorIs(t, err, ErrTruncated)
	_, err = DecodeAll(append(ok, 1, 2), 0)
	require.ErrorIs(t, err, ErrTruncated)
	_, err = DecodeAll(header(16, 8, 0, OpMessage), 0)
	require.ErrorIs(t, err, ErrHeaderLen)

	_, err = DecodeAll(AppendPacket(nil, VerZlib, OpMessage, 0, []byte("not zlib")), 0)
	require.ErrorIs(t, err, ErrDecompress)
	_, err = DecodeAll(AppendPacket(nil, VerBrotli, OpMessage, 0, []byte("\xff\xff\xff\xff not brotli")), 0)
	require.ErrorIs(t, err, ErrDecompress)

	nested := AppendPacket(nil, VerZlib, OpMessage, 0, compress(t, VerZlib, ok))
	_, err = DecodeAll(AppendPacket(nil, VerZlib, OpMessage, 0, compress(t, VerZlib, nested)), 0)
	require.ErrorIs(t, err, ErrDecompress)

	// A small packet that inflates past InflateFactor*maxSize is refused.
	bomb := compress(t, VerBrotli, make([]byte, InflateFactor*1024+1))
	_, err = DecodeAll(AppendPacket(nil, VerBrotli, OpMessage, 0, bomb), 1024)
	require.ErrorIs(t, err, ErrTooLarge)

	// Inner packets obey the same rules.
	_, err = DecodeAll(AppendPacket(nil, VerZlib, OpMessage, 0, compress(t, VerZlib, header(16, 16, 0, 77))), 0)
	require.ErrorIs(t, err, ErrUnknownOp)
	require.True(t, strings.Contains(err.Error(), "offset 0"))
}
