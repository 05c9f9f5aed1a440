package loop

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"testing"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
)

// TestChunkedDecodesAnySplit feeds chunked bodies in pieces of every size the network may
// cut them into, and holds the decoding to httputil's reader.
func TestChunkedDecodesAnySplit(t *testing.T) {
	var wire bytes.Buffer
	cw := httputil.NewChunkedWriter(&wire)
	want := make([]byte, 0, 70000)
	for i := range 40 {
		piece := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*97)
		want = append(want, piece...)
		_, _ = cw.Write(piece)
	}
	_ = cw.Close()
	wire.WriteString("X-Trailer: 1\r\n\r\n")
	encoded := append(wire.Bytes(), "NEXT"...) // what follows the body is not the body's

	ref, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(wire.Bytes())))
	if err != nil || !bytes.Equal(ref, want) {
		t.Fatalf("the reference reader disagrees: %v", err)
	}
	for _, step := range []int{1, 2, 3, 7, 64, 4096, 1 << 20, -1} {
		var d chunked
		d.reset()
		var got []byte
		p := encoded
		done := false
		consumed := 0
		for len(p) > 0 && !done {
			k := step
			if step < 0 {
				k = 1 + rand.IntN(900)
			}
			k = min(k, len(p))
			n, end, err := d.feed(p[:k], func(b []byte) bool { got = append(got, b...); return true })
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			consumed += n
			if n < k && !end {
				t.Fatalf("step %d: consumed %d of %d before the end", step, n, k)
			}
			p = p[n:]
			done = end
		}
		if !done || !bytes.Equal(got, want) || string(encoded[consumed:]) != "NEXT" {
			t.Fatalf("step %d: done %v, %d bytes decoded of %d, left %q", step, done, len(got), len(want), encoded[consumed:])
		}
	}
}

// TestChunkedRefusesMalformedBodies: bad sizes, no CRLF after data, endless lines and
// trailers are the upstream's error, never data.
func TestChunkedRefusesMalformedBodies(t *testing.T) {
	long := bytes.Repeat([]byte("a"), maxChunkLine+10)
	trailers := bytes.Repeat([]byte("X: 1\r\n"), maxTrailerLines+2)
	for name, body := range map[string][]byte{
		"not hex":         []byte("zz\r\nab\r\n0\r\n\r\n"),
		"empty size":      []byte("\r\nab\r\n0\r\n\r\n"),
		"no CRLF":         []byte("2\r\nabXY0\r\n\r\n"),
		"size too large":  []byte("fffffffffffffffff\r\n"),
		"endless line":    append([]byte("1"), long...),
		"endless trailer": append([]byte("0\r\n"), trailers...),
	} {
		var d chunked
		d.reset()
		_, _, err := d.feed(body, func([]byte) bool { return true })
		if err == nil || !errors.Is(err, pool.ErrBadAnswer) {
			t.Errorf("%s: %v, want ErrBadAnswer", name, err)
		}
	}
}
