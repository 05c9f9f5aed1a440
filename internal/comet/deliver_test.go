package comet

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// A push to an idle connection is written by the push itself: no writer
// goroutine, no send queue, and the frame counted as direct.
func TestDirectWriteStartsNoWriter(t *testing.T) {
	if !directWrites {
		t.Skip("no direct writes on this platform")
	}
	e := startEnvTick(t, time.Hour) // a writer, if one started, would stay
	c := e.dialTCP(t)
	c.join(31, 0)
	eventually(t, idleWriter(e, 31), "auth let go of the writer role")
	for i := range 5 {
		msg := fmt.Appendf(nil, `{"cmd":"X","i":%d}`, i)
		require.NoError(t, e.svc.PushRoom(t.Context(), 31, [][]byte{msg}))
		_, ps := c.read()
		require.Equal(t, string(msg), string(ps[0].Body))
		eventually(t, idleWriter(e, 31), "no writer and no queue after a direct write")
	}
	eventually(t, func() bool { return counter(t, e.svc.m.writes, writeDirect) == 5 }, "five direct writes counted")
	require.Zero(t, counter(t, e.svc.m.writes, writeQueued))
}

// With direct_writes off every frame goes through the queue and a writer.
func TestDirectWritesOff(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.DirectWrites = false })
	c := e.dialWS(t)
	c.join(32, 0)
	require.NoError(t, e.svc.PushRoom(t.Context(), 32, [][]byte{protocol.LiveMsg(32)}))
	_, ps := c.read()
	require.Equal(t, string(protocol.LiveMsg(32)), string(ps[0].Body))
	eventually(t, func() bool { return counter(t, e.svc.m.writes, writeQueued) == 1 }, "one queued write counted")
	require.Zero(t, counter(t, e.svc.m.writes, writeDirect))
}

// A frame the socket takes only in part: the rest is queued ahead of the
// frames pushed after it, a writer finishes it, and the viewer gets every
// byte of every frame in order.
func TestDirectWritePartialKeepsOrder(t *testing.T) {
	if !directWrites {
		t.Skip("no direct writes on this platform")
	}
	e := startEnvTick(t, 5*time.Millisecond)
	c := e.dialTCP(t)
	c.join(33, 0)
	// Small socket buffers on the server's side: a 64 KiB frame never fits.
	b := e.svc.bucketFor(33)
	b.mu.RLock()
	sc := b.rooms[33].conns[0]
	b.mu.RUnlock()
	rc, err := sc.nc.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	require.NoError(t, rc.Control(func(fd uintptr) {
		require.NoError(t, syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096))
	}))

	const frames = 20
	pad := strings.Repeat("y", 64<<10)
	for i := range frames {
		msg := fmt.Appendf(nil, `{"cmd":"X","i":%d,"pad":"%s"}`, i, pad)
		require.NoError(t, e.svc.PushRoom(t.Context(), 33, [][]byte{msg}))
		time.Sleep(time.Millisecond) // most pushes leave one by one
	}
	got := 0
	for got < frames {
		_, ps := c.read()
		for _, p := range ps {
			require.Equal(t, fmt.Sprintf(`{"cmd":"X","i":%d,"pad":"%s"}`, got, pad), string(p.Body), "message %d", got)
			got++
		}
	}
	eventually(t, func() bool { return counter(t, e.svc.m.writes, writeQueued) > 0 }, "some frame had to wait for the socket")
	require.Zero(t, counter(t, e.svc.m.dropped, dropWriteError))
	require.Zero(t, counter(t, e.svc.m.dropped, dropQueueFull))
	eventually(t, idleWriter(e, 33), "the writer retired once caught up")
}

// serverConn returns the comet's side of the only connection of room.
func serverConn(e *env, roomID int64) *conn {
	b := e.svc.bucketFor(roomID)
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.rooms[roomID].conns[0]
}

// Batches pushed while the room's pusher cannot write leave together, in
// order: at most two writes for fifty batches.
func TestRoomPushesMerge(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := startEnv(t, nil)
			c := e.dial(t, tr.ws)
			c.join(34, 0)
			sc := serverConn(e, 34)
			sc.mu.Lock() // the pusher waits to write to it
			const pushes = 50
			for i := range pushes {
				require.NoError(t, e.svc.PushRoom(t.Context(), 34, [][]byte{fmt.Appendf(nil, `{"cmd":"X","i":%d}`, i)}))
			}
			sc.mu.Unlock()
			got, units := 0, 0
			for got < pushes {
				_, ps := c.read()
				units++
				for _, p := range ps {
					require.Equal(t, fmt.Sprintf(`{"cmd":"X","i":%d}`, got), string(p.Body))
					got++
				}
			}
			if tr.ws {
				require.LessOrEqual(t, units, 2, "WebSocket messages")
			}
			require.EqualValues(t, pushes-1, counterTotal(e.svc.m.merged))
			eventually(t, func() bool { // counted once the round is over
				return counter(t, e.svc.m.batches, targetRoom) == pushes && counterTotal(e.svc.m.messagesOut) == pushes
			}, "batches and messages counted")
			require.LessOrEqual(t, counter(t, e.svc.m.writes, writeDirect), 2.0)
			eventually(t, func() bool {
				l := &sc.room.push
				l.mu.Lock()
				defer l.mu.Unlock()
				return !l.pushing && l.chunks == nil && l.bytes == 0
			}, "the pusher exited and trimmed the log")
		})
	}
}

// A room whose pusher cannot keep up holds at most about pendingBytes: a
// push beyond that waits, fails when its context ends, and goes in once the
// pusher has written.
func TestRoomPushBackPressure(t *testing.T) {
	e := startEnv(t, nil)
	c := e.dialTCP(t)
	c.join(35, 0)
	sc := serverConn(e, 35)
	sc.mu.Lock()
	locked := true
	defer func() {
		if locked {
			sc.mu.Unlock()
		}
	}()
	big := [][]byte{[]byte(`{"cmd":"X","pad":"` + strings.Repeat("z", 64<<10) + `"}`)}
	accepted := 0
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		err := e.svc.PushRoom(ctx, 35, big)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
		accepted++
		require.Less(t, accepted, 2*pendingBytes/len(big[0]), "pushes never held back")
	}
	// The bound is checked before adding: the push that crossed it went in.
	require.Equal(t, pendingBytes/(len(big[0])+protocol.HeaderLen)+1, accepted)

	done := make(chan error, 1)
	go func() { done <- e.svc.PushRoom(t.Context(), 35, [][]byte{protocol.LiveMsg(35)}) }()
	locked = false
	sc.mu.Unlock()
	require.NoError(t, <-done, "a waiting push goes in once the pusher has written")
}
