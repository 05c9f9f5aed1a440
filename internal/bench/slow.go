package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// Slow viewers join a room like the others and then never read, as a client whose app froze
// while its socket stayed open. The server must notice (its per-connection send queue fills
// or a write times out) and close them without slowing the room's other viewers.
const (
	// slowRcvBuf is a slow viewer's socket receive buffer: small, so the server's writes back
	// up after a few kilobytes instead of the megabytes an auto-tuned buffer takes.
	slowRcvBuf = 4096
	// slowMSS is the segment size a slow viewer announces: a typical network path's.
	slowMSS = 1460
	// slowProbe is how often a slow viewer writes one byte of a heartbeat, which is how it
	// learns the server closed it without reading anything: a byte arriving at a closed
	// socket is answered with a reset, and the next write fails. One heartbeat is complete
	// every 16 (raw TCP) or 22 (WebSocket) probes, about one per second.
	slowProbe = 50 * time.Millisecond
)

// slowConn is one slow viewer and when the server disconnected it.
type slowConn struct {
	room   int
	nc     net.Conn
	ws     bool
	goneNS atomic.Int64 // Unix ns when a write first failed; 0 while open
	err    atomic.Value // string: that write's error
}

// dialSlow opens slow viewer i (in room i mod rooms, over the transport viewer i would use)
// and authenticates it; it reads the auth reply and nothing after.
func (r *run) dialSlow(ctx context.Context, i int) (*slowConn, error) {
	o := r.dialOptions(i)
	// Slow viewers have tokens of their own, after the ordinary viewers' (setup.go).
	o.Token = r.token(i%len(r.rooms), r.viewersPerRoom()+i/len(r.rooms))
	d := net.Dialer{LocalAddr: o.Local, Control: viewer.SlowSocket(slowRcvBuf, slowMSS)}
	var (
		nc  net.Conn
		br  *bufio.Reader
		err error
	)
	if o.WS {
		nc, br, _, err = ws.Dialer{NetDial: d.DialContext}.Dial(ctx, o.Addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", o.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("slow viewer: dial %s: %w", o.Addr, err)
	}
	var rd io.Reader = nc
	if br != nil {
		rd = br
	}
	c := &slowConn{room: i % len(r.rooms), nc: nc, ws: o.WS}
	auth := protocol.AppendAuth(nil, 1, protocol.AuthBody{RoomID: o.RoomID, ProtoVer: o.ProtoVer, Platform: "web", Type: 2, Key: o.Token})
	if err := c.write(auth); err != nil {
		nc.Close()
		return nil, fmt.Errorf("slow viewer: auth: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = nc.SetReadDeadline(deadline)
	var reply []byte
	if o.WS {
		reply, err = wsutil.ReadServerBinary(struct {
			io.Reader
			io.Writer
		}{rd, nc})
	} else {
		var p protocol.Packet
		if p, err = protocol.ReadPacket(rd, nil, 1<<20); err == nil {
			reply = protocol.AppendPacket(nil, p.Ver, p.Op, p.Seq, p.Body)
		}
	}
	if err == nil {
		err = checkAuthReply(reply)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("slow viewer: auth reply: %w", err)
	}
	return c, nil
}

func checkAuthReply(unit []byte) error {
	ps, err := protocol.DecodeAll(unit, 1<<20)
	if err != nil {
		return err
	}
	if len(ps) == 0 || ps[0].Op != protocol.OpAuthReply {
		return errors.New("no auth reply")
	}
	var body struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal(ps[0].Body, &body); err != nil || body.Code != 0 {
		return fmt.Errorf("auth refused: %s", ps[0].Body)
	}
	return nil
}

// write sends b whole: one binary frame over WebSocket.
func (c *slowConn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if c.ws {
		return wsutil.WriteClientBinary(c.nc, b)
	}
	_, err := c.nc.Write(b)
	return err
}

// heartbeatBytes is one heartbeat as the transport carries it (masked frame on WebSocket).
func (c *slowConn) heartbeatBytes(seq uint32) []byte {
	hb := protocol.AppendHeartbeat(nil, seq)
	if !c.ws {
		return hb
	}
	var buf bytes.Buffer
	_ = wsutil.WriteClientBinary(&buf, hb)
	return buf.Bytes()
}

// watch writes a heartbeat one byte per slowProbe until a write fails (the server closed
// the connection) or ctx ends.
func (c *slowConn) watch(ctx context.Context) {
	t := time.NewTicker(slowProbe)
	defer t.Stop()
	seq := uint32(1)
	hb := c.heartbeatBytes(seq)
	for pos := 0; ; pos++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if pos == len(hb) {
			seq++
			hb, pos = c.heartbeatBytes(seq), 0
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.nc.Write(hb[pos : pos+1]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				pos-- // not written: the server stopped reading but has not closed
				continue
			}
			c.goneNS.Store(time.Now().UnixNano())
			c.err.Store(err.Error())
			return
		}
	}
}

// openSlow opens cfg.Slow slow viewers and starts watching them until ctx ends.
func (r *run) openSlow(ctx context.Context, wg *sync.WaitGroup) {
	for i := range r.cfg.Slow {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		c, err := r.dialSlow(dctx, i)
		cancel()
		if err != nil {
			r.slowFailed++
			if r.slowErr == "" {
				r.slowErr = err.Error()
			}
			continue
		}
		r.slow = append(r.slow, c)
		wg.Go(func() { c.watch(ctx) })
	}
}

// SlowReport is what happened to the slow viewers.
type SlowReport struct {
	Wanted int `json:"wanted"`
	Opened int `json:"opened"`
	Failed int `json:"failed"`
	// Disconnected is how many the server closed during the run; DisconnectedAfterS is when
	// each was found closed, in seconds after sending started (negative: before it).
	Disconnected       int       `json:"disconnected"`
	DisconnectedAfterS []float64 `json:"disconnected_after_s,omitempty"`
	FirstError         string    `json:"first_error,omitempty"`
	CloseError         string    `json:"close_error,omitempty"` // how the first one learned it was closed
}

// slowReport closes the slow viewers and summarises them.
func (r *run) slowReport() SlowReport {
	rep := SlowReport{Wanted: r.cfg.Slow, Opened: len(r.slow), Failed: r.slowFailed, FirstError: r.slowErr}
	for _, c := range r.slow {
		if ns := c.goneNS.Load(); ns > 0 {
			rep.Disconnected++
			rep.DisconnectedAfterS = append(rep.DisconnectedAfterS, float64(ns-r.sendStartNS.Load())/1e9)
			if s, ok := c.err.Load().(string); ok && rep.CloseError == "" {
				rep.CloseError = s
			}
		}
		_ = c.nc.Close()
	}
	slices.Sort(rep.DisconnectedAfterS)
	return rep
}
