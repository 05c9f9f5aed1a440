package media

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/room"
)

// handshake is an RTMP C0+C1+C2 with zeroed random bytes.
func handshake() []byte {
	b := make([]byte, 1+1536+1536)
	b[0] = 3
	return b
}

// FuzzRTMPInput feeds arbitrary bytes to one RTMP connection of the engine (lal's handshake
// and chunk reader behind our accept path): whatever arrives, the connection ends (by error,
// EOF or handshake_timeout) and no panic leaves it. The seeds run in the normal test suite.
func FuzzRTMPInput(f *testing.F) {
	hs := handshake()
	f.Add([]byte{})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(hs[:10])
	f.Add(hs)
	// a chunk announcing a 16 MB video message on csid 3
	f.Add(append(append([]byte{}, hs...), 0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0))
	// an audio message before any publish
	f.Add(append(append([]byte{}, hs...), 0x04, 0, 0, 0, 0, 0, 2, 0x08, 1, 0, 0, 0, 0xaf, 0x01))
	// set chunk size 0x7fffffff, then a user control message of one byte
	f.Add(append(append([]byte{}, hs...), 0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
		0x02, 0, 0, 0, 0, 0, 1, 0x04, 0, 0, 0, 0, 0x00))
	// an AMF0 command with a truncated string
	f.Add(append(append([]byte{}, hs...), 0x03, 0, 0, 0, 0, 0, 5, 0x14, 0, 0, 0, 0, 0x02, 0x00, 0x07, 'c', 'o'))

	cfg := defaults()
	cfg.HandshakeTimeout = time.Second
	e := newLalEngine(cfg, Hooks{Authorize: func(context.Context, string, string) (int64, string, error) {
		return 0, "", room.ErrBadStreamKey
	}}, obs.Discard(), newMetrics(prometheus.NewRegistry()))
	f.Fuzz(func(t *testing.T, in []byte) {
		srv, cli := net.Pipe()
		c := &rtmpConn{conn: srv}
		e.mu.Lock()
		e.conns[srv] = c
		e.wg.Add(1)
		e.mu.Unlock()
		done := make(chan struct{})
		go func() { e.serve(c); close(done) }()
		go func() { _, _ = io.Copy(io.Discard, cli) }()       // what the server answers
		go func() { _, _ = cli.Write(in); _ = cli.Close() }() // Write returns once all is read
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection fed %d bytes did not end", len(in))
		}
		_ = cli.Close()
	})
}
