package comet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/protocol"
)

// readBufSize is the per-connection packet buffer: enough for heartbeats
// (including the "[object Object]" body web clients send); the rare larger
// packet (the auth packet) gets its own allocation.
const readBufSize = 64

// Handler is the WebSocket endpoint (binary frames of protocol packets). The
// gateway mounts it at /sub; it must pass through a ResponseWriter that can
// be hijacked (http.ResponseController).
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveWS) }

func (s *Service) serveWS(w http.ResponseWriter, r *http.Request) {
	// The gateway's listener holds this connection's process slot; the comet adds its per-IP cap.
	ip := httpx.ClientIP(r) // the client a trusted proxy names (gateway.trusted_proxies), else the peer
	if !s.ips.AcquireIP(ip) {
		http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
		return
	}
	if !s.enter() {
		s.ips.ReleaseIP(ip)
		http.Error(w, "comet not running", http.StatusServiceUnavailable)
		return
	}
	nc, rw, _, err := s.wsUp.Upgrade(r, w)
	if err != nil {
		s.ips.ReleaseIP(ip)
		s.wg.Done()
		if nc != nil {
			_ = nc.Close()
		}
		s.log.Debug("websocket upgrade failed", "remote", ip, "err", err)
		return
	}
	// Bytes the HTTP server already buffered belong to the first frame; keep
	// them, then read the socket directly so no 4 KiB server buffer stays
	// attached to the connection.
	var src io.Reader = nc
	if n := rw.Reader.Buffered(); n > 0 {
		head, _ := rw.Reader.Peek(n)
		src = &headReader{head: bytes.Clone(head), r: nc}
	}
	c := newConn(nc, true)
	c.ip = ip
	s.serveConn(c, &wsReader{src: src, c: c, s: s})
}

// acceptLoop accepts raw TCP connections until the listener closes.
func (s *Service) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("comet accept failed", "retry_in", delay, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		// The listener admitted nc under the per-IP and total caps; closing nc gives both back.
		if !s.enter() {
			_ = nc.Close()
			return
		}
		c := newConn(nc, false)
		go s.serveConn(c, nc)
	}
}

// serveConn runs a connection's auth phase on the goroutine that accepted it
// (the accept loop's child or the HTTP handler), then parks the connection
// in its poller, or hands it to a fresh reader goroutine, and returns. The
// auth phase's deep call chain (HTTP upgrade, JSON, logic) grows a stack
// that no long-lived reader should keep. The caller has done s.wg.Add(1);
// the slot belongs to the connection until end.
func (s *Service) serveConn(c *conn, r io.Reader) {
	s.m.connGauge(c.ws).Inc()
	s.capSendBuffer(c)
	seq := s.connSeq.Add(1)
	if len(s.pollers) > 0 {
		c.poller = s.pollers[seq%uint64(len(s.pollers))]
	}
	home := s.buckets[seq%uint64(len(s.buckets))]
	if !home.addPending(c) {
		c.close(closeShutdown)
		s.end(c, false)
		return
	}
	c.rd, c.buf = r, make([]byte, readBufSize)
	aseq, pop, ok := s.authenticate(c)
	if !ok {
		home.removePending(c)
		s.end(c, false)
		return
	}
	// The reply must be the first frame out and, once the client has it, the
	// connection must be in its room. So this goroutine takes the writer
	// role before joining (pushes arriving meanwhile queue behind), writes
	// the reply itself and only then hands the queue to a writer if a push
	// came in: an idle connection starts with no writer goroutine.
	body := protocol.AuthReplyBody(protocol.AuthCodeOK)
	okReply := protocol.AppendPacket(c.replyBuf(protocol.HeaderLen+len(body)),
		protocol.VerInt, protocol.OpAuthReply, aseq, body)
	c.holdWrites()
	rb := s.bucketFor(c.roomID)
	joined, newRoom := rb.join(c, pop)
	home.removePending(c)
	if !joined {
		c.close(closeShutdown)
		s.end(c, true)
		return
	}
	if newRoom {
		s.m.rooms.Inc()
	}
	err := c.writeDirect(okReply, s.cfg.WriteTimeout)
	s.releaseWrites(c)
	if err != nil {
		s.readFailed(c, err, dropWriteError)
		s.finish(c)
		return
	}
	s.m.bytesOut.Add(float64(len(okReply)))
	c.joined = true
	c.lastRead.Store(s.now())
	if !s.park(c) {
		go s.readLoop(c)
	}
}

// capSendBuffer fixes the kernel send buffer of c's socket at send_buffer
// (0: left to autotuning). A fixed buffer is what makes write_timeout hold
// for a viewer that stops reading: under autotuning, every ACK the viewer
// still sends (its heartbeats carry them) lets the kernel grow the buffer
// with the congestion window, up to net.ipv4.tcp_wmem's maximum, so the
// non-blocking pushes keep fitting, no write ever waits, and the viewer
// stays until heartbeat_timeout holding megabytes of kernel memory.
func (s *Service) capSendBuffer(c *conn) {
	if s.cfg.SendBuffer == 0 {
		return
	}
	wb, ok := connlimit.Unwrap(c.nc).(interface{ SetWriteBuffer(int) error })
	if !ok {
		return
	}
	if err := wb.SetWriteBuffer(s.cfg.SendBuffer); err != nil {
		s.log.Debug("comet send buffer not set", "remote", c.remote(), "err", err)
	}
}

// finish ends a connection that joined its room: it leaves the room and
// ends. Whoever holds the connection last calls it, exactly once: its
// reader goroutine, or, for a connection parked in a poller, whoever takes
// it out (a close from elsewhere, the heartbeat sweep, the poller's stop).
func (s *Service) finish(c *conn) {
	if s.bucketFor(c.roomID).leave(c) {
		s.m.rooms.Dec()
	}
	s.end(c, true)
}

// now is the time on the Service's monotonic clock, for conn.lastRead.
func (s *Service) now() int64 { return int64(time.Since(s.epoch)) }

// end finishes a connection: closes it if still open, tells logic it left
// when Connect had accepted it, and releases the connection's slot in s.wg.
func (s *Service) end(c *conn, connected bool) {
	defer s.wg.Done()
	c.close(closePeer)
	if c.ws {
		s.ips.ReleaseIP(c.ip)
	}
	s.m.connGauge(c.ws).Dec()
	if !connected {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.cfg.LogicTimeout)
	defer cancel()
	if err := s.logic.Disconnect(ctx, s.cfg.ServerID, c.uid, c.roomID, c.session); err != nil {
		s.log.Warn("logic disconnect failed", "room", c.roomID, "uid", c.uid, "err", err)
	}
}

// authenticate reads the auth packet and asks logic. On success it fills
// c.uid, c.session, c.roomID and c.vi and returns the packet's sequence and the room's
// popularity; otherwise the connection is closed (with a -101 reply when
// logic refused). It is a separate function so its deep call chain (JSON,
// logic) does not enlarge the frame the idle reader keeps on its stack.
func (s *Service) authenticate(c *conn) (seq uint32, pop int64, ok bool) {
	_ = c.nc.SetReadDeadline(time.Now().Add(s.cfg.AuthTimeout))
	// Nothing but an auth packet is accepted before auth: a larger packet is
	// a protocol error at its header, so an unauthenticated peer never makes
	// the comet hold more than an auth packet (the read buffer grows only
	// as bytes arrive, protocol.ReadPacket).
	p, err := protocol.ReadPacket(c.rd, c.buf, protocol.MaxAuthPacket)
	if err != nil {
		s.readFailed(c, err, dropAuthTimeout)
		return 0, 0, false
	}
	if p.Op != protocol.OpAuth {
		s.protoError(c, protoNotAuth, fmt.Errorf("op %d before auth", p.Op))
		return 0, 0, false
	}
	a, err := protocol.ParseAuth(p.Body)
	if err != nil {
		s.protoError(c, protocol.Reason(err), err)
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LogicTimeout)
	uid, session, pop, err := s.logic.Connect(ctx, s.cfg.ServerID, a.Key, a.UID, a.RoomID)
	cancel()
	if err != nil {
		body := protocol.AuthReplyBody(protocol.AuthCodeReject)
		reply := protocol.AppendPacket(c.replyBuf(protocol.HeaderLen+len(body)),
			protocol.VerInt, protocol.OpAuthReply, p.Seq, body)
		_ = c.writeDirect(reply, s.cfg.WriteTimeout)
		c.roomID, c.uid = a.RoomID, a.UID
		s.drop(c, dropAuthRejected, err)
		return 0, 0, false
	}
	c.uid, c.session, c.roomID, c.vi = uid, session, a.RoomID, verIndex(a.MessageVer())
	return p.Seq, pop, true
}

// readLoop reads packets until the connection can be parked in its poller
// or ends, then finishes it. A poller starts it when a parked connection's
// socket becomes readable: it then reads one packet and parks the
// connection again. Without a poller (or while the connection holds bytes
// epoll cannot see) it keeps reading, one reader goroutine per connection.
func (s *Service) readLoop(c *conn) {
	for s.readOne(c) {
		if s.park(c) {
			return
		}
	}
	s.finish(c)
}

// readOne reads one packet and answers it: a heartbeat gets its reply, any
// other packet is a protocol error. The read waits until heartbeat_timeout
// after the previous packet. It reports false once the connection is closed.
func (s *Service) readOne(c *conn) bool {
	if c.isClosed() {
		return false
	}
	_ = c.nc.SetReadDeadline(s.epoch.Add(time.Duration(c.lastRead.Load()) + s.cfg.HeartbeatTimeout))
	if wr, ok := c.rd.(*wsReader); ok && c.poller != nil {
		wr.atBoundary = true
	}
	p, err := protocol.ReadPacket(c.rd, c.buf, s.cfg.MaxPacket)
	if errors.Is(err, errControlOnly) {
		c.lastRead.Store(s.now()) // a ping is a sign of life too
		return true
	}
	if err != nil {
		s.readFailed(c, err, dropHeartbeatTimeout)
		return false
	}
	c.lastRead.Store(s.now())
	switch p.Op {
	case protocol.OpHeartbeat:
		reply := protocol.AppendHeartbeatReply(c.replyBuf(protocol.HeaderLen+4), p.Seq, c.room.popularity.Load())
		if !s.reply(c, reply) {
			s.drop(c, dropQueueFull, nil)
			return false
		}
		s.m.bytesOut.Add(float64(len(reply)))
		return true
	case protocol.OpAuth:
		s.protoError(c, protoDuplicateAuth, errors.New("second auth packet"))
	default:
		s.protoError(c, protoUnexpectedOp, fmt.Errorf("op %d from client", p.Op))
	}
	return false
}

// readFailed classifies a read error: a deadline is the timeout drop of the
// current phase, a codec or framing error is a protocol error, anything else
// (EOF, reset, closed by us) is an ordinary end.
func (s *Service) readFailed(c *conn, err error, timeoutReason string) {
	if c.isClosed() {
		return
	}
	switch {
	case isTimeout(err):
		s.drop(c, timeoutReason, err)
	case protocol.Reason(err) != "":
		s.protoError(c, protocol.Reason(err), err)
	case errors.Is(err, errWSFrame):
		s.protoError(c, protoWSFrame, err)
	default:
		if c.close(closePeer) {
			s.log.Debug("connection closed", "remote", c.remote(), "room", c.roomID, "uid", c.uid, "err", err)
		}
	}
}

// drop closes c for a reason the comet chose, counting and logging it.
func (s *Service) drop(c *conn, reason string, err error) {
	if !c.close(reason) {
		return
	}
	s.m.dropped.WithLabelValues(reason).Inc()
	s.log.Info("connection dropped", "reason", reason, "remote", c.remote(),
		"room", c.roomID, "uid", c.uid, "err", err)
}

// protoError closes c for a protocol violation, counting and logging it.
func (s *Service) protoError(c *conn, reason string, err error) {
	if !c.close(reason) {
		return
	}
	s.m.protoErrors.WithLabelValues(reason).Inc()
	s.log.Info("connection protocol error", "reason", reason, "remote", c.remote(),
		"room", c.roomID, "uid", c.uid, "err", err)
}
