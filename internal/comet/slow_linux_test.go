package comet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// dialStalled opens a connection whose receive buffer is 4 KiB and that
// announces a typical network path's segment size (loopback's 64 KiB one
// would let the comet's send buffer grow to megabytes), so the comet's
// writes back up after some kilobytes once the client stops reading.
func (e *env) dialStalled(t testing.TB, isWS bool) *client {
	t.Helper()
	d := net.Dialer{Control: viewer.SlowSocket(4096, 1460)}
	var (
		nc  net.Conn
		br  *bufio.Reader
		err error
	)
	if isWS {
		nc, br, _, err = ws.Dialer{NetDial: d.DialContext}.Dial(context.Background(), e.wsURL)
	} else {
		nc, err = d.Dial("tcp", e.svc.TCPAddr().String())
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	var r io.Reader = nc
	if br != nil {
		r = io.MultiReader(br, nc)
	}
	return &client{t: t, nc: nc, r: bufio.NewReader(r), ws: isWS}
}

// A viewer that stops reading is dropped once a write to it has waited
// write_timeout, over raw TCP as over WebSocket, long before
// heartbeat_timeout and with a send queue too long to fill first; the
// other viewer of the room receives every message, in order.
func TestStalledViewerDroppedAtWriteTimeout(t *testing.T) {
	for _, tr := range transports {
		for _, poller := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/poller=%v", tr.name, poller), func(t *testing.T) {
				testStalledViewer(t, tr.ws, poller)
			})
		}
	}
}

func testStalledViewer(t *testing.T, isWS, poller bool) {
	const writeTimeout = 300 * time.Millisecond
	e := startEnv(t, func(c *Config) {
		c.Poller = poller
		c.WriteTimeout = writeTimeout
		c.HeartbeatTimeout = time.Minute
		c.SendQueue = 1 << 16 // only the deadline can trip
		c.SendBuffer = 16 << 10
	})
	const room = 41
	healthy := e.dial(t, isWS)
	healthy.join(room, 0)
	stalled := e.dialStalled(t, isWS)
	stalled.join(room, 0) // reads the auth reply, then nothing
	// It keeps sending, a heartbeat byte every 10 ms, as a client
	// whose reading stopped but whose timers still run. The ACKs
	// these segments carry are what let the kernel grow the
	// comet's send buffer (see Config.SendBuffer).
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		for seq := uint32(1); ; seq++ {
			for _, b := range protocol.AppendHeartbeat(nil, seq) {
				time.Sleep(10 * time.Millisecond)
				if stalled.sendByte(b) != nil {
					return
				}
			}
		}
	}()

	var got atomic.Int64
	bad := make(chan string, 1)
	go func() {
		for {
			raw, err := healthy.readRaw(10 * time.Second)
			if err != nil {
				return
			}
			ps, err := protocol.DecodeAll(raw, 1<<20)
			if err != nil {
				bad <- err.Error()
				return
			}
			for _, p := range ps {
				if want := fmt.Sprintf(`{"cmd":"X","i":%d,`, got.Load()); !strings.HasPrefix(string(p.Body), want) {
					bad <- fmt.Sprintf("got %.40s, want %s", p.Body, want)
					return
				}
				got.Add(1)
			}
		}
	}()

	// A busy room's rate: 200-byte messages every 10 ms.
	pad := strings.Repeat("x", 160)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent := int64(0)
	dropped := func() float64 {
		return counter(t, e.svc.m.dropped, dropWriteError) + counter(t, e.svc.m.dropped, dropQueueFull)
	}
	const maxBytes = 96 << 10
	bytes := 0
	for dropped() == 0 {
		require.Less(t, bytes, maxBytes, "stalled viewer not dropped after %v (write_timeout %v)", time.Since(start), writeTimeout)
		msg := fmt.Appendf(nil, `{"cmd":"X","i":%d,"pad":"%s"}`, sent, pad)
		require.NoError(t, e.svc.PushRoom(t.Context(), room, [][]byte{msg}))
		sent++
		bytes += protocol.HeaderLen + len(msg)
		<-tick.C
		want := sent
		eventually(t, func() bool { return got.Load() >= want }, "the healthy viewer keeps up")
	}
	t.Logf("stalled viewer dropped after %v, %d pushes of 200 B", time.Since(start), sent)
	require.Less(t, time.Since(start), time.Minute, "dropped before heartbeat_timeout")
	require.EqualValues(t, 1, counter(t, e.svc.m.dropped, dropWriteError), "a missed write deadline is a write_error")
	eventually(t, func() bool { return e.svc.Online()[room] == 1 }, "the stalled viewer left the room")
	require.NoError(t, e.svc.PushRoom(t.Context(), room,
		[][]byte{fmt.Appendf(nil, `{"cmd":"X","i":%d,"pad":""}`, sent)}))
	eventually(t, func() bool { return got.Load() == sent+1 }, "the healthy viewer after the drop")
	_ = stalled.nc.Close()
	<-probing
	select {
	case msg := <-bad:
		t.Fatal(msg)
	default:
	}
}

// sendByte writes one byte of the packet stream: alone on raw TCP, as a
// one-byte masked binary frame on WebSocket.
func (c *client) sendByte(b byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if c.ws {
		return ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewBinaryFrame([]byte{b})))
	}
	_, err := c.nc.Write([]byte{b})
	return err
}

// comet.send_buffer fixes the kernel send buffer of every client socket
// (Linux reserves twice the value); 0 leaves it to autotuning.
func TestSendBufferFixed(t *testing.T) {
	sndbuf := func(c *conn) int {
		rc, err := c.nc.(syscall.Conn).SyscallConn()
		require.NoError(t, err)
		var v int
		var serr error
		require.NoError(t, rc.Control(func(fd uintptr) {
			v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		}))
		require.NoError(t, serr)
		return v
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := startEnv(t, func(c *Config) { c.SendBuffer = 32 << 10 })
			e.dial(t, tr.ws).join(51, 0)
			require.Equal(t, 64<<10, sndbuf(serverConn(e, 51)))

			off := startEnv(t, func(c *Config) { c.SendBuffer = 0 })
			off.dial(t, tr.ws).join(52, 0)
			require.NotEqual(t, 64<<10, sndbuf(serverConn(off, 52)))
		})
	}
}
