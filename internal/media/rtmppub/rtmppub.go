// Package rtmppub is a minimal RTMP publishing client: handshake, chunk size, connect,
// createStream and publish, then media messages on the chunk streams encoders use. It is
// built from lal's client-side pieces (handshake, AMF0, chunking), which do not log (lal's
// PushSession logs through a process-wide logger). `zhibo bench media` and the media tests
// publish with it, so they know when each message was handed to the socket.
package rtmppub

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/q191201771/lal/pkg/base"
	"github.com/q191201771/lal/pkg/rtmp"
)

// Chunk streams and the message stream of a publish, as ffmpeg and lal use them.
const (
	csidControl = 2
	csidConn    = 3
	csidStream  = 5
	msid        = rtmp.Msid1
)

// Publisher is one RTMP publish connection.
type Publisher struct {
	conn net.Conn
}

// Dial connects to addr and publishes stream key under app, within timeout. The server's
// answers are read and discarded: a server refuses by closing the connection, which the next
// Send reports (callers learn a publish took through the platform's own API).
func Dial(ctx context.Context, addr, app, key string, timeout time.Duration) (*Publisher, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Publisher{conn: conn}
	if err := p.open(addr, app, key, timeout); err != nil {
		conn.Close()
		return nil, fmt.Errorf("rtmp publish %s: %w", addr, err)
	}
	go func() { _, _ = io.Copy(io.Discard, conn) }() // ends when the connection closes
	return p, nil
}

func (p *Publisher) open(addr, app, key string, timeout time.Duration) error {
	_ = p.conn.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = p.conn.SetDeadline(time.Time{}) }()
	var hs rtmp.HandshakeClientSimple
	if err := hs.WriteC0C1(p.conn); err != nil {
		return err
	}
	if err := hs.ReadS0S1(p.conn); err != nil {
		return err
	}
	if err := hs.WriteC2(p.conn); err != nil {
		return err
	}
	if err := hs.ReadS2(p.conn); err != nil {
		return err
	}
	// Message2Chunks cuts at rtmp.LocalChunkSize: announce it.
	if err := p.sendOn(csidControl, base.RtmpTypeIdSetChunkSize, 0, 0,
		binary.BigEndian.AppendUint32(nil, uint32(rtmp.LocalChunkSize))); err != nil {
		return err
	}
	var b bytes.Buffer
	_ = rtmp.Amf0.WriteString(&b, "connect")
	_ = rtmp.Amf0.WriteNumber(&b, 1)
	_ = rtmp.Amf0.WriteObject(&b, rtmp.ObjectPairArray{
		{Key: "app", Value: app}, {Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; zhibo)"},
		{Key: "tcUrl", Value: "rtmp://" + addr + "/" + app},
	})
	if err := p.sendOn(csidConn, base.RtmpTypeIdCommandMessageAmf0, 0, 0, b.Bytes()); err != nil {
		return err
	}
	b.Reset()
	_ = rtmp.Amf0.WriteString(&b, "createStream")
	_ = rtmp.Amf0.WriteNumber(&b, 2)
	_ = rtmp.Amf0.WriteNull(&b)
	if err := p.sendOn(csidConn, base.RtmpTypeIdCommandMessageAmf0, 0, 0, b.Bytes()); err != nil {
		return err
	}
	b.Reset()
	_ = rtmp.Amf0.WriteString(&b, "publish")
	_ = rtmp.Amf0.WriteNumber(&b, 3)
	_ = rtmp.Amf0.WriteNull(&b)
	_ = rtmp.Amf0.WriteString(&b, key)
	_ = rtmp.Amf0.WriteString(&b, "live")
	return p.sendOn(csidStream, base.RtmpTypeIdCommandMessageAmf0, msid, 0, b.Bytes())
}

// Send writes one media message (FLV tag type: audio, video or metadata) with its body and
// timestamp, on the chunk stream encoders use for its type; it returns when the socket write
// of its last chunk returned.
func (p *Publisher) Send(typ uint8, ts uint32, body []byte) error {
	csid := rtmp.CsidAudio
	switch typ {
	case base.RtmpTypeIdVideo:
		csid = rtmp.CsidVideo
	case base.RtmpTypeIdMetadata:
		csid = rtmp.CsidAmf
	}
	return p.sendOn(csid, typ, msid, ts, body)
}

func (p *Publisher) sendOn(csid int, typ uint8, msid int, ts uint32, body []byte) error {
	h := base.RtmpHeader{Csid: csid, MsgLen: uint32(len(body)), MsgTypeId: typ, MsgStreamId: msid, TimestampAbs: ts}
	_, err := p.conn.Write(rtmp.Message2Chunks(body, &h))
	return err
}

// Close closes the connection, which ends the publish.
func (p *Publisher) Close() error { return p.conn.Close() }
