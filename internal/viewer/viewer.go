// Package viewer is a client of the long-connection protocol, over WebSocket or raw TCP, as
// a third-party danmaku client speaks it: auth, heartbeats, and decoding of plain, zlib and
// brotli batches into single messages. End-to-end tests and the load generator use it.
package viewer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// Options say where and as whom to connect.
type Options struct {
	// Addr is "host:port" for raw TCP, or a ws:// or wss:// URL (e.g. ws://127.0.0.1:8080/sub).
	Addr     string
	WS       bool
	UID      int64
	RoomID   int64
	Token    string
	ProtoVer int // 0 plain, 2 zlib, 3 brotli
	// Local, when set, is the source address to connect from (spreading load over 127.0.0.x).
	Local *net.TCPAddr
	// Control, when set, runs on the socket before it connects (net.Dialer.Control), e.g. to
	// shrink its receive buffer for a viewer that stops reading.
	Control func(network, address string, c syscall.RawConn) error
	// TLS, when set, speaks TLS: over raw TCP, and for WebSocket (with a wss:// Addr).
	TLS *tls.Config
}

// Conn is one authenticated connection.
type Conn struct {
	nc      net.Conn
	ws      bool
	r       *bufio.Reader
	pending []protocol.Packet
	seq     uint32
	frame   bytes.Buffer   // NextFrame's reused buffer
	wsr     *wsutil.Reader // NextFrame's WebSocket reader, made on first use
	ctl     wsutil.FrameHandlerFunc
}

// ErrRejected is returned when the server answers the auth packet with a non-zero code.
var ErrRejected = errors.New("viewer: auth rejected")

// Dial connects and authenticates; it returns once the auth reply arrived.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	d := net.Dialer{LocalAddr: o.Local, Control: o.Control}
	var (
		nc  net.Conn
		br  *bufio.Reader
		err error
	)
	switch {
	case o.WS:
		wd := ws.Dialer{NetDial: d.DialContext, TLSConfig: o.TLS}
		nc, br, _, err = wd.Dial(ctx, o.Addr)
	case o.TLS != nil:
		td := tls.Dialer{NetDialer: &d, Config: o.TLS}
		nc, err = td.DialContext(ctx, "tcp", o.Addr)
	default:
		nc, err = d.DialContext(ctx, "tcp", o.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("viewer: dial %s: %w", o.Addr, err)
	}
	if br == nil {
		br = bufio.NewReader(nc)
	}
	c := &Conn{nc: nc, ws: o.WS, r: br}
	auth := protocol.AppendAuth(nil, 1, protocol.AuthBody{UID: o.UID, RoomID: o.RoomID, ProtoVer: o.ProtoVer,
		Platform: "web", Type: 2, Key: o.Token})
	if err := c.write(auth); err != nil {
		nc.Close()
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	p, err := c.NextUntil(deadline)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("viewer: auth reply: %w", err)
	}
	var reply struct {
		Code int `json:"code"`
	}
	if p.Op != protocol.OpAuthReply || json.Unmarshal(p.Body, &reply) != nil {
		nc.Close()
		return nil, fmt.Errorf("viewer: want auth reply, got op %d", p.Op)
	}
	if reply.Code != 0 {
		nc.Close()
		return nil, fmt.Errorf("%w: code %d", ErrRejected, reply.Code)
	}
	return c, nil
}

// Heartbeat sends op 2; the reply (op 3) arrives through Next.
func (c *Conn) Heartbeat() error {
	c.seq++
	return c.write(protocol.AppendHeartbeat(nil, c.seq))
}

// WriteRaw sends bytes as they are (one WebSocket binary frame), for protocol-error tests.
func (c *Conn) WriteRaw(b []byte) error { return c.write(b) }

func (c *Conn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if c.ws {
		return wsutil.WriteClientBinary(c.nc, b)
	}
	_, err := c.nc.Write(b)
	return err
}

// Next returns the next single packet (compressed batches are unpacked), waiting up to d.
func (c *Conn) Next(d time.Duration) (protocol.Packet, error) {
	return c.NextUntil(time.Now().Add(d))
}

// NextUntil is Next with an absolute deadline.
func (c *Conn) NextUntil(deadline time.Time) (protocol.Packet, error) {
	for len(c.pending) == 0 {
		_ = c.nc.SetReadDeadline(deadline)
		var unit []byte
		if c.ws {
			data, op, err := wsutil.ReadServerData(struct {
				io.Reader
				io.Writer
			}{c.r, c.nc})
			if err != nil {
				return protocol.Packet{}, err
			}
			if op != ws.OpBinary {
				return protocol.Packet{}, fmt.Errorf("viewer: got a %v frame, want binary", op)
			}
			unit = data
		} else {
			p, err := protocol.ReadPacket(c.r, nil, 16<<20)
			if err != nil {
				return protocol.Packet{}, err
			}
			unit = protocol.AppendPacket(nil, p.Ver, p.Op, p.Seq, p.Body)
		}
		ps, err := protocol.DecodeAll(unit, 16<<20)
		if err != nil {
			return protocol.Packet{}, err
		}
		c.pending = append(c.pending, ps...)
	}
	p := c.pending[0]
	c.pending = c.pending[1:]
	return p, nil
}

// NextFrame returns the next transport unit as it arrived — one WebSocket message, or one
// packet on raw TCP — without unpacking compressed batches (protocol.DecodeAll does that).
// The bytes are valid until the next call: a load generator reading thousands of
// connections decodes them with reused decompressors instead of allocating per message.
// Do not mix it with Next on one connection.
func (c *Conn) NextFrame(deadline time.Time) ([]byte, error) {
	_ = c.nc.SetReadDeadline(deadline)
	c.frame.Reset()
	if !c.ws {
		hdr, err := c.r.Peek(protocol.HeaderLen)
		if err != nil {
			return nil, err
		}
		h, err := protocol.ParseHeader(hdr, 16<<20)
		if err != nil {
			return nil, err
		}
		_, err = io.CopyN(&c.frame, c.r, int64(h.PacketLen))
		return c.frame.Bytes(), err
	}
	if c.wsr == nil {
		c.wsr = &wsutil.Reader{Source: c.r, State: ws.StateClientSide, MaxMessageSize: 16 << 20}
		c.ctl = wsutil.ControlFrameHandler(c.nc, ws.StateClientSide)
		c.wsr.OnIntermediate = c.ctl
	}
	for {
		hdr, err := c.wsr.NextFrame()
		if err != nil {
			return nil, err
		}
		if hdr.OpCode.IsControl() {
			if err := c.ctl(hdr, c.wsr); err != nil {
				return nil, err
			}
			continue
		}
		if hdr.OpCode != ws.OpBinary {
			return nil, fmt.Errorf("viewer: got a %v frame, want binary", hdr.OpCode)
		}
		_, err = c.frame.ReadFrom(c.wsr)
		return c.frame.Bytes(), err
	}
}

// Detach hands the reading of the connection to the caller: it returns the
// connection and the bytes already read from it but not yet returned (a copy).
// Only Heartbeat, WriteRaw and Close may be used on c afterwards.
func (c *Conn) Detach() (nc net.Conn, buffered []byte) {
	if n := c.r.Buffered(); n > 0 {
		b, _ := c.r.Peek(n)
		buffered = bytes.Clone(b)
	}
	return c.nc, buffered
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// LocalAddr is the client side of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Cmd is the "cmd" of an op-5 body ("" when it has none).
func Cmd(body []byte) string {
	var m struct {
		Cmd string `json:"cmd"`
	}
	_ = json.Unmarshal(body, &m)
	return m.Cmd
}
