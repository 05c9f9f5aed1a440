package protocol

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// errStalled stands for a read deadline passing: the sender stopped.
var errStalled = errors.New("stalled")

// stalledReader returns b, then errStalled.
type stalledReader struct{ b []byte }

func (r *stalledReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errStalled
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// A sender that announces a 64 KiB packet and stops after 100 body bytes
// costs the reader about what it sent, not the 64 KiB it announced.
func TestReadPacketStalledAnnouncementAllocatesWhatArrived(t *testing.T) {
	const announced = 64 << 10
	stream := AppendPacket(nil, VerPlain, OpMessage, 1, make([]byte, announced-HeaderLen))[:HeaderLen+100]
	read := func() {
		_, err := ReadPacket(&stalledReader{b: stream}, make([]byte, 64), announced)
		if !errors.Is(err, errStalled) {
			t.Fatalf("err = %v, want the reader's", err)
		}
	}
	read()
	const runs = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		read()
	}
	runtime.ReadMemStats(&after)
	perRead := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%d bytes allocated per stalled read of a %d-byte announcement", perRead, announced)
	require.Less(t, perRead, uint64(4<<10), "a stalled announcement allocates only as bytes arrive")
}

// Packets larger than the scratch buffer decode whole however the bytes
// arrive: at once, one byte per read, or half of each read.
func TestReadPacketGrowsAcrossReads(t *testing.T) {
	for _, size := range []int{0, 1, 47, 48, 49, 100, 1000, 4096, 5000, 64<<10 - HeaderLen} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		var stream []byte
		stream = AppendPacket(stream, VerPlain, OpMessage, 1, body)
		stream = AppendHeartbeat(stream, 2)
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole": func(r io.Reader) io.Reader { return r },
			"bytes": iotest.OneByteReader,
			"half":  iotest.HalfReader,
		} {
			r := wrap(bytes.NewReader(stream))
			buf := make([]byte, 64)
			p, err := ReadPacket(r, buf, 64<<10)
			require.NoError(t, err, "%d %s", size, name)
			require.Equal(t, body, p.Body, "%d %s", size, name)
			p, err = ReadPacket(r, buf, 64<<10)
			require.NoError(t, err, "%d %s", size, name)
			require.Equal(t, OpHeartbeat, p.Op)
			_, err = ReadPacket(r, buf, 64<<10)
			require.ErrorIs(t, err, io.EOF)
		}
	}
}

// A stream that ends inside a large body is ErrUnexpectedEOF, as before.
func TestReadPacketGrowingTruncated(t *testing.T) {
	stream := AppendPacket(nil, VerPlain, OpMessage, 1, make([]byte, 10000))
	for _, cut := range []int{HeaderLen, HeaderLen + 1, 2000, len(stream) - 1} {
		_, err := ReadPacket(bytes.NewReader(stream[:cut]), nil, 0)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
	}
}
