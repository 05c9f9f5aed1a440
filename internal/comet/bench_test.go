package comet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

const (
	benchConns     = 1000
	benchBatchMsgs = 10 // a busy room's 100 ms window
	benchRoom      = 42
)

// BenchmarkPushRoom1000 pushes one room batch to 1,000 real loopback
// connections per op: the batch is encoded once for the room's version and
// the room's pusher writes it to every connection (several batches in one
// write when they arrive faster than a round) while client goroutines read
// them. The op count is not finished until every client received every
// batch's bytes, so ns/op and msgs/s measure delivery, not just queueing. At
// most half a send queue of batches is in flight for any one client.
func BenchmarkPushRoom1000(b *testing.B) {
	for _, tc := range []struct {
		name     string
		ws       bool
		protover int
	}{
		{"tcp_ver0", false, 0},
		{"tcp_ver3", false, 3},
		{"ws_ver2", true, 2},
		{"ws_ver3", true, 3},
	} {
		b.Run(tc.name, func(b *testing.B) { benchPushRoom(b, tc.ws, tc.protover) })
	}
}

func benchPushRoom(b *testing.B, isWS bool, protover int) {
	e := startEnv(b, func(c *Config) { c.SendQueue = DefaultSendQueue })
	received := make([]atomic.Int64, benchConns) // packet bytes per client
	var wg sync.WaitGroup
	var mu sync.Mutex
	clients := make([]*client, 0, benchConns)
	var dialWG sync.WaitGroup
	for g := range 20 {
		dialWG.Go(func() {
			for range benchConns / 20 {
				c := e.dial(b, isWS)
				c.join(benchRoom, protover)
				mu.Lock()
				clients = append(clients, c)
				mu.Unlock()
			}
			_ = g
		})
	}
	dialWG.Wait()
	require.Len(b, clients, benchConns)
	for i, c := range clients {
		_ = c.nc.SetReadDeadline(time.Time{})
		wg.Go(func() { countUnits(c, &received[i]) })
	}

	msgs := make([][]byte, benchBatchMsgs)
	for i := range msgs {
		msgs[i] = protocol.Danmu{ID: int64(i), UID: int64(1000 + i), Uname: fmt.Sprintf("观众%d", i),
			Text: fmt.Sprintf("第 %d 条弹幕，主播好！", i), RoomID: benchRoom}.JSON()
	}
	// A batch is the same packet bytes every time, whatever writes carry it.
	perBatch := int64(len(newFrameSet(msgs).packetFor(&conn{vi: verIndex(uint16(protover))})))
	window := int64(DefaultSendQueue / 2)
	// waitFor returns once every client has received the first batches.
	waitFor := func(batches int64) {
		want := batches * perBatch
		for i := range received {
			for received[i].Load() < want {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	ctx := context.Background()
	bytesBefore := testutil.ToFloat64(e.svc.m.bytesOut)
	b.ReportAllocs()
	start := time.Now()
	n := int64(0)
	for b.Loop() {
		if err := e.svc.PushRoom(ctx, benchRoom, msgs); err != nil {
			b.Fatal(err)
		}
		n++
		if n > window {
			waitFor(n - window)
		}
	}
	waitFor(n)
	elapsed := time.Since(start)
	b.StopTimer()

	require.Zero(b, testutil.ToFloat64(e.svc.m.dropped.WithLabelValues(dropQueueFull)), "nobody dropped")
	b.ReportMetric(float64(n*benchBatchMsgs*benchConns)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric((testutil.ToFloat64(e.svc.m.bytesOut)-bytesBefore)/float64(n), "wire-B/op")
	for _, c := range clients {
		_ = c.nc.Close()
	}
	wg.Wait()
}

// countUnits reads a client connection until it closes, adding to received
// the bytes of every TCP packet or WebSocket message payload (packets).
func countUnits(c *client, received *atomic.Int64) {
	br := bufio.NewReaderSize(c.r, 64<<10)
	var hdr [protocol.HeaderLen]byte
	wsHdr := make([]byte, ws.MaxHeaderSize)
	for {
		if c.ws {
			h, err := ws.ReadHeaderBuffer(br, wsHdr)
			if err != nil {
				return
			}
			if _, err := br.Discard(int(h.Length)); err != nil {
				return
			}
			received.Add(h.Length)
			continue
		} else {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(hdr[:]))
			if _, err := br.Discard(n - protocol.HeaderLen); err != nil {
				return
			}
			received.Add(int64(n))
		}
	}
}

// BenchmarkConnMemory reports what an idle authenticated, heartbeating connection costs
// the process: heap (the comet's conn, queue, buffers and the test client's
// socket object) and goroutine stacks, with the poller (an idle connection
// has no goroutine) and without it (one parked reader goroutine each). An
// idle connection has no writer, and idle clients have no goroutines.
func BenchmarkConnMemory(b *testing.B) {
	for _, tr := range transports {
		for _, mode := range []struct {
			name   string
			poller bool
		}{{"poller", true}, {"reader", false}} {
			b.Run(tr.name+"/"+mode.name, func(b *testing.B) { benchConnMemory(b, tr.ws, mode.poller) })
		}
	}
}

func benchConnMemory(b *testing.B, isWS, poller bool) {
	e := startEnv(b, func(c *Config) { c.Poller = poller })
	if poller && len(e.svc.pollers) == 0 {
		b.Skip("no poller on " + runtime.GOOS)
	}
	perConn := 1 // goroutines per idle connection
	if poller {
		perConn = 0
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		clients := make([]net.Conn, benchConns)
		for i := range clients {
			clients[i] = e.dialBare(b, isWS, int64(i%50+1))
		}
		for _, nc := range clients { // one heartbeat each, answered without a writer
			heartbeatBare(b, nc, isWS)
		}
		if poller { // the readers that answered exit once their connection is parked again
			eventually(b, func() bool { return int(testutil.ToFloat64(e.svc.m.parked)) == benchConns }, "all parked")
		}
		// Polled here: require.Eventually runs its condition on goroutines of its own.
		for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine()-g0 != perConn*benchConns &&
			time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		for range 4 { // each GC halves an oversized idle stack once
			runtime.GC()
		}
		runtime.ReadMemStats(&after)
		require.Equal(b, perConn*benchConns, runtime.NumGoroutine()-g0, "goroutines per idle connection")
		// Signed: with the poller the stacks in use can shrink below the start.
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/benchConns, "heap-B/conn")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/benchConns, "stack-B/conn")
		for _, nc := range clients {
			_ = nc.Close()
		}
		eventually(b, func() bool { return len(e.svc.Online()) == 0 }, "all left")
	}
}

// dialBare opens and authenticates a connection with no client-side
// buffering, so memory measurements see (almost) only the comet's side.
func (e *env) dialBare(t testing.TB, isWS bool, roomID int64) net.Conn {
	t.Helper()
	auth := protocol.AppendAuth(nil, 1, protocol.AuthBody{RoomID: roomID, ProtoVer: 3})
	var nc net.Conn
	var err error
	if isWS {
		var br *bufio.Reader
		nc, br, _, err = ws.Dial(context.Background(), e.wsURL)
		require.NoError(t, err)
		require.Nil(t, br, "nothing buffered before auth")
		require.NoError(t, ws.WriteFrame(nc, ws.MaskFrame(ws.NewBinaryFrame(auth))))
	} else {
		nc, err = net.Dial("tcp", e.svc.TCPAddr().String())
		require.NoError(t, err)
		_, err = nc.Write(auth)
		require.NoError(t, err)
	}
	reply := make([]byte, protocol.HeaderLen+len(`{"code":0}`))
	if isWS {
		reply = make([]byte, 2+len(reply))
	}
	_, err = io.ReadFull(nc, reply)
	require.NoError(t, err)
	require.True(t, bytes.HasSuffix(reply, []byte(`{"code":0}`)))
	return nc
}

// heartbeatBare sends one heartbeat on a dialBare connection and reads the
// reply.
func heartbeatBare(t testing.TB, nc net.Conn, isWS bool) {
	t.Helper()
	hb := protocol.AppendHeartbeat(nil, 2)
	n := protocol.HeaderLen + 4
	if isWS {
		require.NoError(t, ws.WriteFrame(nc, ws.MaskFrame(ws.NewBinaryFrame(hb))))
		n += 2
	} else {
		_, err := nc.Write(hb)
		require.NoError(t, err)
	}
	_, err := io.ReadFull(nc, make([]byte, n))
	require.NoError(t, err)
}
