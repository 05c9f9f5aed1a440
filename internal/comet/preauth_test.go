package comet

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// announce is a packet header announcing plen bytes (header + body) of op,
// with none of the body.
func announce(plen int, op uint32) []byte {
	b := protocol.AppendPacket(nil, protocol.VerInt, op, 1, nil)
	binary.BigEndian.PutUint32(b, uint32(plen))
	return b
}

// sendAnnouncement writes hdr as the start of a packet that never comes
// whole: on WebSocket, the start of a masked frame announcing the whole
// packet's length, so the frame too promises bytes that never arrive.
func (c *client) sendAnnouncement(hdr []byte, plen int) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	var err error
	if c.ws {
		f := ws.NewBinaryFrame(hdr)
		f.Header.Length = int64(plen)
		f = ws.MaskFrame(f)
		f.Header.Length = int64(plen)
		if err = ws.WriteHeader(c.nc, f.Header); err == nil {
			_, err = c.nc.Write(f.Payload)
		}
	} else {
		_, err = c.nc.Write(hdr)
	}
	require.NoError(c.t, err)
}

// Connections that announce an auth packet larger than an auth packet can
// be and then stall are protocol errors at once, not buffers held until
// auth_timeout, over raw TCP and WebSocket alike.
func TestOversizedAuthRejectedAtOnce(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.AuthTimeout = time.Minute })
	const perTransport = 20
	sizes := []int{64 << 10, protocol.HeaderLen + protocol.MaxAuthBody + 1}
	var clients []*client
	for _, tr := range transports {
		for i := range perTransport {
			plen := sizes[i%len(sizes)]
			c := e.dial(t, tr.ws)
			c.sendAnnouncement(announce(plen, protocol.OpAuth), plen)
			clients = append(clients, c)
		}
	}
	start := time.Now()
	for _, c := range clients {
		c.expectClosed()
	}
	require.Less(t, time.Since(start), 10*time.Second, "closed long before auth_timeout")
	eventually(t, func() bool { return counter(t, e.svc.m.protoErrors, "too_large") == 2*perTransport },
		"each counted as a too_large protocol error")
	require.Zero(t, counter(t, e.svc.m.dropped, dropAuthTimeout))

	// An auth packet of exactly the limit is still accepted.
	key := strings.Repeat("k", protocol.MaxAuthBody-len(`{"roomid":7,"key":""}`))
	body := `{"roomid":7,"key":"` + key + `"}`
	require.Len(t, body, protocol.MaxAuthBody)
	for _, tr := range transports {
		c := e.dial(t, tr.ws)
		c.send(protocol.AppendPacket(nil, protocol.VerInt, protocol.OpAuth, 1, []byte(body)))
		h, ps := c.read()
		require.Equal(t, protocol.OpAuthReply, h.Op)
		require.JSONEq(t, `{"code":0}`, string(ps[0].Body))
	}
}
