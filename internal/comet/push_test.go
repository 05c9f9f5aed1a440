package comet

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

func batch() [][]byte {
	return [][]byte{
		protocol.Danmu{ID: 1, UID: 10, Uname: "甲", Text: "第一条", RoomID: 100}.JSON(),
		protocol.Gift{GiftID: 1, GiftName: "小花花", Num: 2, UID: 11, Uname: "乙", Price: 100}.JSON(),
		protocol.InteractWord{UID: 12, Uname: "丙", MsgType: protocol.InteractEnter, RoomID: 100}.JSON(),
	}
}

func requireBatch(t *testing.T, want [][]byte, ps []protocol.Packet) {
	t.Helper()
	require.Len(t, ps, len(want))
	for i, p := range ps {
		require.Equal(t, protocol.OpMessage, p.Op)
		require.Equal(t, protocol.VerPlain, p.Ver)
		require.Equal(t, string(want[i]), string(p.Body))
	}
}

func TestPushRoomPerVersion(t *testing.T) {
	e := startEnv(t, nil)
	wsZlib := e.dialWS(t)
	wsZlib.join(100, 2)
	tcpBrotli := e.dialTCP(t)
	tcpBrotli.join(100, 3)
	tcpPlain := e.dialTCP(t)
	tcpPlain.join(100, 1) // protover 1 gets plain messages
	wsBrotli := e.dialWS(t)
	wsBrotli.join(100, 3)
	other := e.dialTCP(t)
	other.join(200, 0)

	msgs := batch()
	require.NoError(t, e.svc.PushRoom(t.Context(), 100, msgs))

	h, ps := wsZlib.read()
	require.Equal(t, protocol.VerZlib, h.Ver, "one compressed outer packet in one binary frame")
	require.Equal(t, protocol.OpMessage, h.Op)
	requireBatch(t, msgs, ps)

	for _, c := range []*client{tcpBrotli, wsBrotli} {
		h, ps = c.read()
		require.Equal(t, protocol.VerBrotli, h.Ver)
		requireBatch(t, msgs, ps)
	}

	// Plain: the batch arrives as consecutive ver-0 packets.
	for i := range msgs {
		h, ps = tcpPlain.read()
		require.Equal(t, protocol.VerPlain, h.Ver)
		require.Equal(t, string(msgs[i]), string(ps[0].Body))
	}

	// The other room got nothing: its first message is its own.
	require.NoError(t, e.svc.PushRoom(t.Context(), 200, [][]byte{protocol.PreparingMsg(200)}))
	_, ps = other.read()
	require.Equal(t, string(protocol.PreparingMsg(200)), string(ps[0].Body))

	// Counted by the pushers once their round is over, maybe after the reads.
	eventually(t, func() bool {
		return counterTotal(e.svc.m.batches.WithLabelValues(targetRoom)) == 1+1 &&
			counterTotal(e.svc.m.messagesOut) == 4*3+1
	}, "batches and messages counted")
}

func TestPushUsersAndBroadcast(t *testing.T) {
	e := startEnv(t, nil)
	join := func(uid, room int64, isWS bool) *client {
		c := e.dial(t, isWS)
		p := c.auth(protocol.AuthBody{UID: uid, RoomID: room, ProtoVer: 3, Key: "k"})
		require.JSONEq(t, `{"code":0}`, string(p.Body))
		return c
	}
	u5a := join(5, 1, false)
	u5b := join(5, 2, true)
	u6 := join(6, 1, false)
	guest := join(0, 3, true)

	note := [][]byte{[]byte(`{"cmd":"NOTICE","to":"5"}`)}
	require.NoError(t, e.svc.PushUsers(t.Context(), []int64{5, 5, 0, 99}, note))
	for _, c := range []*client{u5a, u5b} {
		_, ps := c.read()
		requireBatch(t, note, ps)
	}

	all := [][]byte{[]byte(`{"cmd":"SYS"}`)}
	require.NoError(t, e.svc.Broadcast(t.Context(), all))
	for _, c := range []*client{u5a, u5b, u6, guest} {
		_, ps := c.read()
		requireBatch(t, all, ps) // u6 and the guest did not get the user push first
	}
}

func TestPushEmptyAndCanceled(t *testing.T) {
	e := startEnv(t, nil)
	require.NoError(t, e.svc.PushRoom(t.Context(), 1, nil))
	require.NoError(t, e.svc.PushRoom(t.Context(), 404, batch()), "no such room is not an error")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Error(t, e.svc.PushRoom(ctx, 1, batch()))
	require.Error(t, e.svc.PushUsers(ctx, []int64{1}, batch()))
	require.Error(t, e.svc.Broadcast(ctx, batch()))
}

// A client that stops reading is closed once its queue fills; the room
// keeps flowing to everyone else.
func TestSlowConsumerClosed(t *testing.T) {
	e := startEnv(t, func(c *Config) {
		c.SendQueue = 4
		c.WriteTimeout = 30 * time.Second // the queue, not the deadline, must trip
	})
	slow := e.dialTCP(t)
	slow.join(9, 0)
	fast := e.dialWS(t)
	fast.join(9, 0)

	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := fast.readRaw(10 * time.Second); err != nil {
				return
			}
			got.Add(1)
		}
	}()

	big := [][]byte{[]byte(`{"cmd":"X","pad":"` + strings.Repeat("x", 64<<10) + `"}`)}
	sent := int64(0)
	for counter(t, e.svc.m.dropped, dropQueueFull) == 0 {
		require.Less(t, sent, int64(5000), "slow consumer never dropped")
		require.NoError(t, e.svc.PushRoom(t.Context(), 9, big))
		sent++
		want := sent
		eventually(t, func() bool { return got.Load() >= want }, "fast client keeps up")
	}
	t.Logf("slow consumer dropped after %d pushes of 64 KiB", sent)
	slow.expectClosed()
	eventually(t, func() bool { return e.svc.Online()[9] == 1 }, "slow client left the room")

	// The fast client still receives.
	require.NoError(t, e.svc.PushRoom(t.Context(), 9, [][]byte{protocol.LiveMsg(9)}))
	eventually(t, func() bool { return got.Load() == sent+1 }, "fast client after the drop")
	require.EqualValues(t, 1, counter(t, e.svc.m.dropped, dropQueueFull))
	_ = fast.nc.Close()
	<-done
}

// A batch is encoded at most once per version, and a WebSocket connection
// gets the very bytes a TCP connection gets, behind a frame header.
func TestFrameSetEncodesOncePerVersion(t *testing.T) {
	msgs := batch()
	fs := newFrameSet(msgs)
	tcp3 := &conn{vi: viBrotli}
	ws3 := &conn{vi: viBrotli, ws: true}
	tcp0 := &conn{vi: viPlain}

	a := fs.frameFor(tcp3)
	b := fs.frameFor(&conn{vi: viBrotli})
	require.Same(t, &a[0], &b[0], "same version, same bytes")
	w := fs.frameFor(ws3)
	require.Same(t, &a[0], &w[len(w)-len(a)], "the WebSocket frame wraps the same packet bytes")
	h, err := ws.ReadHeader(bytes.NewReader(w))
	require.NoError(t, err)
	require.Equal(t, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(len(a))}, h)
	require.Len(t, w, wsHeaderLen(len(a))+len(a))
	require.Nil(t, fs.tcp[viZlib], "versions nobody uses are never encoded")

	p := fs.frameFor(tcp0)
	ps, err := protocol.DecodeAll(p, 0)
	require.NoError(t, err)
	requireBatch(t, msgs, ps)
	ps, err = protocol.DecodeAll(a, 0)
	require.NoError(t, err)
	requireBatch(t, msgs, ps)
}

func TestWSHeader(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		h := appendWSHeader(nil, wsOpBinary, n)
		require.Len(t, h, wsHeaderLen(n))
		parsed, err := ws.ReadHeader(bytes.NewReader(h))
		require.NoError(t, err)
		require.True(t, parsed.Fin)
		require.False(t, parsed.Masked)
		require.Equal(t, ws.OpBinary, parsed.OpCode)
		require.EqualValues(t, n, parsed.Length)
	}
}
