package connlimit

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// Listen wraps ln: Accept admits a connection only while its client IP is under the per-IP cap
// and the process under its total; a refused connection is closed at once and Accept waits for
// the next one. Each admitted connection holds its slots until its first Close.
func (l *Limiter) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (x *listener) Accept() (net.Conn, error) {
	for {
		nc, err := x.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := Host(nc.RemoteAddr().String())
		if !x.l.admit(ip) {
			_ = nc.Close()
			continue
		}
		return &Conn{Conn: nc, l: x.l, ip: ip}, nil
	}
}

// Conn is an admitted connection: its Close gives the slots back, once.
type Conn struct {
	net.Conn
	l      *Limiter
	ip     string
	closed atomic.Bool
}

// Close closes the connection and, the first time, releases its slots.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
	return err
}

// NetConn is the accepted connection underneath.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SyscallConn reaches the descriptor of the accepted connection (pollers, direct writes):
// a Conn adds nothing to the byte stream, so writing to the descriptor is writing to it.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CloseWrite half-closes a TCP connection (net/http uses it to end a response cleanly).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Transparent is a connection wrapper that adds nothing to the byte stream, or no longer
// does: Transparent returns the connection underneath, or nil while the wrapper still has
// bytes of its own to give (the gateway's fast lane hands connections over with the bytes it
// read of them).
type Transparent interface {
	Transparent() net.Conn
}

// Unwrap is the accepted connection under a Conn and under any Transparent wrapper, or nc
// itself for any other connection. They are transparent, unlike TLS: code that needs the
// plain *net.TCPConn may look through them.
func Unwrap(nc net.Conn) net.Conn {
	for {
		switch c := nc.(type) {
		case *Conn:
			nc = c.Conn
		case Transparent:
			u := c.Transparent()
			if u == nil {
				return nc
			}
			nc = u
		default:
			return nc
		}
	}
}
