package comet

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// startEnvTick is startEnv (TCP only) with a fast writer clock.
func startEnvTick(t *testing.T, tick time.Duration) *env {
	t.Helper()
	e := &env{logic: &fakeLogic{popularity: 777}, reg: prometheus.NewRegistry()}
	svc, err := New(testConfig(), Deps{Logic: e.logic, Registry: e.reg})
	require.NoError(t, err)
	svc.writerTick = tick
	require.NoError(t, svc.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, svc.Stop(ctx))
	})
	e.svc = svc
	return e
}

// writerState reports whether the only connection of room has a writer (or
// a goroutine holding the writer role) and whether its queue is allocated.
func writerState(e *env, roomID int64) (writing, queued bool) {
	b := e.svc.bucketFor(roomID)
	b.mu.RLock()
	c := b.rooms[roomID].conns[0]
	b.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writing, c.queue != nil
}

func idleWriter(e *env, roomID int64) func() bool {
	return func() bool {
		w, q := writerState(e, roomID)
		return !w && !q
	}
}

// A writer starts with the first push, exits with its queue after the
// queue stayed empty for two clock ticks, and a later push starts a new
// one; heartbeat replies of an idle connection start none.
func TestWriterOnDemand(t *testing.T) {
	e := startEnvTick(t, 10*time.Millisecond)
	c := e.dialTCP(t)
	c.join(5, 0)
	require.Eventually(t, idleWriter(e, 5), time.Second, time.Millisecond, "no writer after auth")

	for round := range 3 {
		require.NoError(t, e.svc.PushRoom(t.Context(), 5, [][]byte{protocol.LiveMsg(5)}))
		_, ps := c.read()
		require.Equal(t, string(protocol.LiveMsg(5)), string(ps[0].Body), "round %d", round)
		eventually(t, idleWriter(e, 5), "writer retired")
	}

	for seq := range uint32(3) {
		c.send(protocol.AppendHeartbeat(nil, seq))
		h, _ := c.read()
		require.Equal(t, protocol.OpHeartbeatReply, h.Op)
		require.Equal(t, seq, h.Seq)
		_, queued := writerState(e, 5) // the reader may hold the role for an instant
		require.False(t, queued, "a direct heartbeat reply allocates no queue")
	}
	require.Zero(t, counter(t, e.svc.m.dropped, dropWriteError))
}

// Frames queued while a writer is busy keep their order and none is lost
// across writer exits and restarts.
func TestWriterOrderAcrossRestarts(t *testing.T) {
	e := startEnvTick(t, time.Millisecond)
	c := e.dialTCP(t)
	c.join(6, 0)
	want := 0
	for i := range 200 {
		msg := []byte(`{"cmd":"X","i":` + string(rune('0'+i%10)) + `}`)
		require.NoError(t, e.svc.PushRoom(t.Context(), 6, [][]byte{msg}))
		if i%7 == 0 {
			c.send(protocol.AppendHeartbeat(nil, uint32(i)))
		}
		if i%20 == 19 {
			time.Sleep(3 * time.Millisecond) // let the writer retire now and then
		}
		want++
	}
	got, beats := 0, 0
	for got < want || beats < 29 {
		h, ps := c.read()
		if h.Op == protocol.OpHeartbeatReply {
			beats++
			continue
		}
		for _, p := range ps {
			require.Equal(t, byte('0'+got%10), p.Body[len(p.Body)-2], "frame %d in order", got)
			got++
		}
	}
	require.Equal(t, want, got)
}
