package comet

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

var transports = []struct {
	name string
	ws   bool
}{{"tcp", false}, {"ws", true}}

func TestAuthAndHeartbeat(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := startEnv(t, nil)
			c := e.dial(t, tr.ws)
			c.join(1001, 3)

			c.send(protocol.AppendHeartbeat(nil, 42))
			h, ps := c.read()
			require.Equal(t, protocol.OpHeartbeatReply, h.Op)
			require.Equal(t, protocol.VerInt, h.Ver)
			require.EqualValues(t, 42, h.Seq, "sequence echoed")
			pop, ok := protocol.Popularity(ps[0].Body)
			require.True(t, ok)
			require.EqualValues(t, 777, pop, "popularity from Connect")

			// The report loop brings logic's global count into heartbeat replies.
			e.logic.mu.Lock()
			e.logic.global = map[int64]int64{1001: 4242}
			e.logic.mu.Unlock()
			eventually(t, func() bool {
				c.send(protocol.AppendHeartbeat(nil, 1))
				_, ps := c.read()
				pop, _ := protocol.Popularity(ps[0].Body)
				return pop == 4242
			}, "popularity from ReportOnline")
			require.Equal(t, map[int64]int64{1001: 1}, e.svc.Online())
		})
	}
}

// Web clients send "[object Object]" as heartbeat body.
func TestHeartbeatWithBody(t *testing.T) {
	e := startEnv(t, nil)
	c := e.dialTCP(t)
	c.join(1, 0)
	c.send(protocol.AppendPacket(nil, protocol.VerInt, protocol.OpHeartbeat, 2, []byte("[object Object]")))
	h, _ := c.read()
	require.Equal(t, protocol.OpHeartbeatReply, h.Op)
}

func TestAuthRejected(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := startEnv(t, nil)
			c := e.dial(t, tr.ws)
			p := c.auth(protocol.AuthBody{RoomID: 5, Key: "bad"})
			require.JSONEq(t, `{"code":-101}`, string(p.Body))
			c.expectClosed()
			eventually(t, func() bool { return counter(t, e.svc.m.dropped, dropAuthRejected) == 1 }, "counted")
			require.Zero(t, e.logic.disconnectCount(), "a rejected connection never connected")
		})
	}
}

func TestProtocolErrorsCloseOnlyThatConnection(t *testing.T) {
	authPkt := func(body string) []byte {
		return protocol.AppendPacket(nil, protocol.VerInt, protocol.OpAuth, 1, []byte(body))
	}
	raw := func(plen uint32, hlen uint16, op uint32) []byte {
		b := protocol.AppendPacket(nil, protocol.VerInt, op, 1, nil)
		b[0], b[1], b[2], b[3] = byte(plen>>24), byte(plen>>16), byte(plen>>8), byte(plen)
		b[4], b[5] = byte(hlen>>8), byte(hlen)
		return b
	}
	cases := []struct {
		name      string
		afterAuth bool
		pkt       []byte
		reason    string
	}{
		{"heartbeat before auth", false, protocol.AppendHeartbeat(nil, 1), protoNotAuth},
		{"message before auth", false, protocol.AppendPacket(nil, 0, protocol.OpMessage, 1, []byte("{}")), protoNotAuth},
		{"wrong header length", false, raw(16, 12, protocol.OpAuth), "header_len"},
		{"wrong header length after auth", true, raw(16, 20, protocol.OpHeartbeat), "header_len"},
		{"oversized", false, raw(8192, 16, protocol.OpAuth), "too_large"},
		{"oversized after auth", true, raw(1<<20, 16, protocol.OpHeartbeat), "too_large"},
		{"length below header", true, raw(4, 16, protocol.OpHeartbeat), "short"},
		{"unknown op", true, raw(16, 16, 6), "unknown_op"},
		{"server op from client", true, protocol.AppendPacket(nil, 0, protocol.OpMessage, 1, []byte("{}")), protoUnexpectedOp},
		{"second auth", true, authPkt(`{"roomid":2}`), protoDuplicateAuth},
		{"bad auth json", false, authPkt(`{"roomid":`), "bad_auth"},
		{"auth negative room", false, authPkt(`{"uid":1,"roomid":-1}`), "bad_auth"},
		{"auth bad protover", false, authPkt(`{"roomid":1,"protover":7}`), "bad_auth"},
	}
	for _, tr := range transports {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				e := startEnv(t, func(c *Config) { c.MaxPacket = 4200 })
				bystander := e.dialTCP(t)
				bystander.join(7, 0)
				c := e.dial(t, tr.ws)
				if tc.afterAuth {
					c.join(7, 0)
				}
				c.send(tc.pkt)
				c.expectClosed()
				eventually(t, func() bool { return counter(t, e.svc.m.protoErrors, tc.reason) == 1 }, "counted as "+tc.reason)

				// Nobody else is affected.
				require.NoError(t, e.svc.PushRoom(t.Context(), 7, [][]byte{protocol.LiveMsg(7)}))
				_, ps := bystander.read()
				require.Equal(t, string(protocol.LiveMsg(7)), string(ps[0].Body))
				if tc.afterAuth {
					eventually(t, func() bool { return e.logic.disconnectCount() == 1 }, "logic told")
				}
			})
		}
	}
}

func TestAuthTimeout(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.AuthTimeout = 100 * time.Millisecond })
	c := e.dialTCP(t)
	c.expectClosed()
	eventually(t, func() bool { return counter(t, e.svc.m.dropped, dropAuthTimeout) == 1 }, "counted")
}

func TestHeartbeatTimeout(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.HeartbeatTimeout = 150 * time.Millisecond })
	c := e.dialWS(t)
	c.join(3, 2)
	c.expectClosed()
	eventually(t, func() bool { return counter(t, e.svc.m.dropped, dropHeartbeatTimeout) == 1 }, "counted")
	eventually(t, func() bool { return e.logic.disconnectCount() == 1 }, "logic told")
	eventually(t, func() bool { return len(e.svc.Online()) == 0 }, "room gone")
}

func TestWebSocketControlFrames(t *testing.T) {
	e := startEnv(t, nil)
	c := e.dialWS(t)
	// A ping before auth is answered directly, one after through the queue.
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewPingFrame([]byte("early")))))
	f, err := ws.ReadFrame(c.r)
	require.NoError(t, err)
	require.Equal(t, ws.OpPong, f.Header.OpCode)
	require.Equal(t, "early", string(f.Payload))
	c.join(4, 0)
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewPingFrame([]byte("late")))))
	f, err = ws.ReadFrame(c.r)
	require.NoError(t, err)
	require.Equal(t, ws.OpPong, f.Header.OpCode)
	require.Equal(t, "late", string(f.Payload))

	// A packet split over two frames is reassembled.
	hb := protocol.AppendHeartbeat(nil, 9)
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewFrame(ws.OpBinary, false, hb[:5]))))
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewFrame(ws.OpContinuation, true, hb[5:]))))
	h, _ := c.read()
	require.Equal(t, protocol.OpHeartbeatReply, h.Op)

	// A close frame is echoed and ends the connection without a drop.
	require.NoError(t, ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))))
	c.expectClosed()
	eventually(t, func() bool { return e.logic.disconnectCount() == 1 }, "logic told")
	require.Zero(t, counter(t, e.svc.m.protoErrors, protoWSFrame))
}

func TestWebSocketUnmaskedFrameIsProtocolError(t *testing.T) {
	e := startEnv(t, nil)
	c := e.dialWS(t)
	require.NoError(t, ws.WriteFrame(c.nc, ws.NewBinaryFrame(protocol.AppendHeartbeat(nil, 1))))
	c.expectClosed()
	eventually(t, func() bool { return counter(t, e.svc.m.protoErrors, protoWSFrame) == 1 }, "counted")
}

func TestWebSocketRejectsPlainHTTP(t *testing.T) {
	e := startEnv(t, nil)
	resp, err := http.Get(strings.Replace(e.wsURL, "ws://", "http://", 1))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestStopClosesEverything(t *testing.T) {
	e := startEnv(t, nil)
	var cs []*client
	for i := range 6 {
		c := e.dial(t, i%2 == 0)
		c.join(int64(10+i%3), i%4)
		cs = append(cs, c)
	}
	pending := e.dialTCP(t) // never authenticates
	eventually(t, func() bool {
		n := 0
		for _, v := range e.svc.Online() {
			n += int(v)
		}
		return n == 6
	}, "all joined")
	require.NoError(t, e.svc.Stop(t.Context()))
	for _, c := range append(cs, pending) {
		c.expectClosed()
	}
	require.Equal(t, 6, e.logic.disconnectCount())
	require.Empty(t, e.svc.Online())
	require.NoError(t, e.svc.Stop(t.Context()), "second Stop is a no-op")
	require.ErrorIs(t, e.svc.Start(t.Context()), ErrClosed)
}
