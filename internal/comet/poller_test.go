package comet

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// startPollerEnv is startEnv with comet.poller on; it skips where the
// platform has no poller.
func startPollerEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := startEnv(t, func(c *Config) {
		c.Poller = true
		if mod != nil {
			mod(c)
		}
	})
	if len(e.svc.pollers) == 0 {
		require.NotEqual(t, "linux", runtime.GOOS, "Linux has the poller")
		t.Skip("no poller on " + runtime.GOOS)
	}
	return e
}

func parkedCount(e *env) int { return int(testutil.ToFloat64(e.svc.m.parked)) }

func waitParked(t testing.TB, e *env, n int) {
	t.Helper()
	eventually(t, func() bool { return parkedCount(e) == n }, "connections parked")
}

// goroutinesIn counts the goroutines whose stack has a frame of the comet
// method named by fn (e.g. "(*Service).readLoop").
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/comet."+fn+"(") {
			count++
		}
	}
	return count
}

// cometGoroutines counts goroutines running the comet's own code (the test
// goroutine excepted).
func cometGoroutines() int {
	return goroutinesIn("(*Service)") + goroutinesIn("(*poller)") + goroutinesIn("(*conn)")
}

func (c *client) heartbeat(seq uint32) {
	c.t.Helper()
	c.send(protocol.AppendHeartbeat(nil, seq))
	h, _ := c.read()
	require.Equal(c.t, protocol.OpHeartbeatReply, h.Op)
	require.Equal(c.t, seq, h.Seq)
}

// An idle authenticated connection holds no goroutine, and answers
// heartbeats sent long after auth (longer than a sweep period, and together
// longer than heartbeat_timeout) without being dropped.
func TestParkedConnectionAnswersHeartbeats(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			const timeout = time.Second
			e := startPollerEnv(t, func(c *Config) { c.HeartbeatTimeout = timeout })
			c := e.dial(t, tr.ws)
			c.join(21, 3)
			waitParked(t, e, 1)
			eventually(t, func() bool { return goroutinesIn("(*Service).readLoop") == 0 }, "no reader goroutine")
			for seq := range uint32(2) {
				time.Sleep(timeout * 6 / 10) // the idle time is what is tested
				c.heartbeat(seq + 7)
				waitParked(t, e, 1)
			}
			require.Zero(t, counter(t, e.svc.m.dropped, dropHeartbeatTimeout))
			require.Equal(t, map[int64]int64{21: 1}, e.svc.Online())
		})
	}
}

func TestParkedWebSocketPing(t *testing.T) {
	e := startPollerEnv(t, nil)
	c := e.dialWS(t)
	c.join(22, 0)
	waitParked(t, e, 1)
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewPingFrame([]byte("parked")))))
	f, err := ws.ReadFrame(c.r)
	require.NoError(t, err)
	require.Equal(t, ws.OpPong, f.Header.OpCode)
	require.Equal(t, "parked", string(f.Payload))
	// The reader that answered parks the connection again at once: no
	// goroutine waits for the client's next data frame.
	waitParked(t, e, 1)
	eventually(t, func() bool { return goroutinesIn("(*Service).readLoop") == 0 }, "no reader goroutine")
	c.heartbeat(3)
	waitParked(t, e, 1)
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewPingFrame([]byte("again")))))
	f, err = ws.ReadFrame(c.r)
	require.NoError(t, err)
	require.Equal(t, "again", string(f.Payload))
}

// A parked connection silent past heartbeat_timeout is dropped by the
// sweep, not earlier; a parked connection that heartbeats in time stays.
func TestParkedHeartbeatTimeout(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			const timeout = 500 * time.Millisecond
			e := startPollerEnv(t, func(c *Config) { c.HeartbeatTimeout = timeout })
			alive := e.dial(t, !tr.ws)
			alive.join(24, 0)
			silent := e.dial(t, tr.ws)
			silent.join(24, 0)
			joined := time.Now()
			waitParked(t, e, 2)
			closed := make(chan time.Duration, 1)
			go func() {
				_, err := silent.readRaw(5 * time.Second)
				if err == nil {
					err = errors.New("unexpected data")
				}
				silent.t.Log("silent connection:", err)
				closed <- time.Since(joined)
			}()

			var after time.Time // the heartbeating connection outlives more sweeps
			for seq := uint32(1); after.IsZero() || time.Now().Before(after); seq++ {
				time.Sleep(timeout / 5) // leaves a loaded machine 400 ms of slack
				alive.heartbeat(seq)
				select {
				case d := <-closed:
					require.GreaterOrEqual(t, d, timeout, "not dropped before heartbeat_timeout")
					after = time.Now().Add(2 * timeout)
				default:
				}
				require.Less(t, seq, uint32(100), "silent connection never dropped")
			}
			require.EqualValues(t, 1, counter(t, e.svc.m.dropped, dropHeartbeatTimeout))
			eventually(t, func() bool { return e.logic.disconnectCount() == 1 }, "logic told")
			require.Equal(t, map[int64]int64{24: 1}, e.svc.Online())
			waitParked(t, e, 1)
		})
	}
}

// A parked connection closed by the server (here a slow viewer whose queue
// filled) leaves its room and is reported to logic exactly once.
func TestParkedConnectionClosedByServer(t *testing.T) {
	e := startPollerEnv(t, func(c *Config) {
		c.SendQueue = 4
		c.WriteTimeout = 30 * time.Second // the queue, not the deadline, must trip
	})
	slow := e.dialTCP(t)
	slow.join(25, 0)
	waitParked(t, e, 1)
	big := [][]byte{[]byte(`{"cmd":"X","pad":"` + strings.Repeat("x", 64<<10) + `"}`)}
	for sent := 0; counter(t, e.svc.m.dropped, dropQueueFull) == 0; sent++ {
		require.Less(t, sent, 5000, "slow consumer never dropped")
		require.NoError(t, e.svc.PushRoom(t.Context(), 25, big))
	}
	slow.expectClosed()
	eventually(t, func() bool { return e.logic.disconnectCount() == 1 }, "logic told")
	eventually(t, func() bool { return len(e.svc.Online()) == 0 }, "room left")
	require.Zero(t, parkedCount(e))
	require.Zero(t, counterTotal(e.svc.m.rooms))
	require.Zero(t, counterTotal(e.svc.m.connTCP))
	require.NoError(t, e.svc.Stop(t.Context()))
	require.Equal(t, 1, e.logic.disconnectCount(), "finished once")
}

// A client closing a parked connection wakes the poller: the connection
// leaves its room and logic is told.
func TestParkedConnectionClientCloses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := startPollerEnv(t, nil)
			c := e.dial(t, tr.ws)
			c.join(26, 2)
			waitParked(t, e, 1)
			require.NoError(t, c.nc.Close())
			eventually(t, func() bool { return e.logic.disconnectCount() == 1 }, "logic told")
			eventually(t, func() bool { return len(e.svc.Online()) == 0 }, "room left")
			require.Zero(t, parkedCount(e))
			require.Zero(t, counterTotal(e.svc.m.connections.WithLabelValues(transportTCP))+
				counterTotal(e.svc.m.connections.WithLabelValues(transportWS)))
			require.Zero(t, counterTotal(e.svc.m.dropped.WithLabelValues(dropHeartbeatTimeout)))
		})
	}
}

// Stop with many parked connections (some of them in the middle of a
// heartbeat) returns promptly, tells logic about each once and leaves no
// goroutine behind.
func TestStopWithParkedConnections(t *testing.T) {
	const n = 200
	e := startPollerEnv(t, nil)
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = e.dial(t, i%2 == 1)
		cs[i].join(int64(30+i%7), i%4)
	}
	waitParked(t, e, n)
	// Heartbeats in flight while Stop runs: their replies may or may not
	// come, but nothing may be finished twice or left running.
	for i, c := range cs[:n/4] {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(wireHeartbeat(c.ws, uint32(i)))
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.svc.Stop(ctx))
	t.Logf("Stop with %d parked connections took %v", n, time.Since(start))
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, n, e.logic.disconnectCount())
	require.Empty(t, e.svc.Online())
	require.Zero(t, parkedCount(e))
	eventually(t, func() bool { return cometGoroutines() == 0 }, "no comet goroutine left")
	for _, c := range cs {
		c.expectClosed()
	}
}

// wireHeartbeat is a heartbeat packet as a client puts it on the wire.
func wireHeartbeat(isWS bool, seq uint32) []byte {
	hb := protocol.AppendHeartbeat(nil, seq)
	if !isWS {
		return hb
	}
	b, err := ws.CompileFrame(ws.MaskFrame(ws.NewBinaryFrame(hb)))
	if err != nil {
		panic(err)
	}
	return b
}

// A WebSocket client that sends its auth and a heartbeat together with the
// upgrade request leaves them in the HTTP server's buffer: the connection
// is parked only once those bytes are read, else the heartbeat would wait
// for input that already came.
func TestWebSocketBytesBufferedBeforeParking(t *testing.T) {
	e := startPollerEnv(t, nil)
	addr := strings.TrimPrefix(strings.TrimSuffix(e.wsURL, "/sub"), "ws://")
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	req := "GET /sub HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	auth, err := ws.CompileFrame(ws.MaskFrame(ws.NewBinaryFrame(
		protocol.AppendAuth(nil, 1, protocol.AuthBody{RoomID: 27, ProtoVer: 3, Key: "ok"}))))
	require.NoError(t, err)
	_, err = nc.Write(append(append([]byte(req), auth...), wireHeartbeat(true, 5)...))
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	c := &client{t: t, nc: nc, r: br, ws: true}
	h, _ := c.read()
	require.Equal(t, protocol.OpAuthReply, h.Op)
	h, _ = c.read()
	require.Equal(t, protocol.OpHeartbeatReply, h.Op, "the buffered heartbeat is answered")
	require.EqualValues(t, 5, h.Seq)
	waitParked(t, e, 1)
	c.heartbeat(6)
	waitParked(t, e, 1)
}

// TestWithoutPoller reruns the connection tests with a reader goroutine per
// connection (comet.poller off). A new connection test belongs in this list.
func TestWithoutPoller(t *testing.T) {
	if !testPoller {
		t.Skip("the whole suite already runs without the poller")
	}
	testPoller = false
	defer func() { testPoller = true }()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"AuthAndHeartbeat", TestAuthAndHeartbeat},
		{"HeartbeatWithBody", TestHeartbeatWithBody},
		{"AuthRejected", TestAuthRejected},
		{"ProtocolErrorsCloseOnlyThatConnection", TestProtocolErrorsCloseOnlyThatConnection},
		{"OversizedAuthRejectedAtOnce", TestOversizedAuthRejectedAtOnce},
		{"AuthTimeout", TestAuthTimeout},
		{"HeartbeatTimeout", TestHeartbeatTimeout},
		{"WebSocketControlFrames", TestWebSocketControlFrames},
		{"WebSocketUnmaskedFrameIsProtocolError", TestWebSocketUnmaskedFrameIsProtocolError},
		{"StopClosesEverything", TestStopClosesEverything},
		{"ConnectionsPerIPAreCapped", TestConnectionsPerIPAreCapped},
		{"PushRoomPerVersion", TestPushRoomPerVersion},
		{"PushUsersAndBroadcast", TestPushUsersAndBroadcast},
		{"SlowConsumerClosed", TestSlowConsumerClosed},
		{"WriterOnDemand", TestWriterOnDemand},
		{"WriterOrderAcrossRestarts", TestWriterOrderAcrossRestarts},
		{"RemotePushReachesViewers", TestRemotePushReachesViewers},
		{"NoTCPListener", TestNoTCPListener},
	} {
		t.Run(tc.name, tc.f)
	}
	e := startEnv(t, nil)
	require.Empty(t, e.svc.pollers, "comet.poller=false opens no poller")
}
