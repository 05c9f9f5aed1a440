package loop

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/platform/epoll"
)

// Available reports whether event loops run on this system.
func Available() bool { return true }

type impl struct {
	mu       sync.Mutex
	ln       net.Listener
	loops    []*evloop
	next     atomic.Uint64 // round robin of new connections over the loops
	shutting atomic.Bool
	open     atomic.Int64  // client connections on the loops
	drained  chan struct{} // closed when open reaches 0 during a shutdown
	wg       sync.WaitGroup
}

// Serve accepts on ln until Shutdown or an accept error, which it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.defaults()
	if err := s.start(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return lane.Accept(ln, s.shutting.Load, func(nc net.Conn) { s.adopt(nc, nil) })
}

func (s *Server) start(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return http.ErrServerClosed
	}
	if err := s.Lane.Start(ln.Addr()); err != nil {
		return err
	}
	s.Lane.Return = s.giveBack
	n := s.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for range n {
		l, err := newLoop(s)
		if err != nil {
			for _, l := range s.loops {
				l.set.Close()
			}
			s.loops = nil
			return err
		}
		s.loops = append(s.loops, l)
	}
	s.ln = ln
	s.drained = make(chan struct{})
	for _, l := range s.loops {
		s.wg.Add(1)
		go l.run()
	}
	return nil
}

// Shutdown stops accepting, closes idle connections, lets the requests in progress end (until
// ctx ends, then closes their connections), stops the loops and shuts the lane down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	if s.ln != nil {
		_ = s.ln.Close()
	}
	loops := s.loops
	drained := s.drained
	s.mu.Unlock()
	var err error
	if loops != nil {
		for _, l := range loops {
			l.post(task{kind: taskShutdown})
		}
		if s.open.Load() == 0 {
			s.closeDrained()
		}
		select {
		case <-drained:
		case <-ctx.Done():
			err = ctx.Err()
		}
		for _, l := range loops {
			l.post(task{kind: taskStop})
		}
		s.wg.Wait()
	}
	if lerr := s.Lane.Shutdown(ctx); lerr != nil && err == nil {
		err = lerr
	}
	return err
}

func (s *Server) closeDrained() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drained != nil {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// connOpened and connClosed count the clients on the loops.
func (s *Server) connOpened() { s.open.Add(1); s.Metrics.conns.Inc() }

func (s *Server) connClosed() {
	s.Metrics.conns.Dec()
	if s.open.Add(-1) == 0 && s.shutting.Load() {
		s.closeDrained()
	}
}

// handed is a connection the loop gave the lane: its own descriptor, in Go's poller again,
// and the accepted connection whose Close gives back the connection's slots (connlimit).
type handed struct {
	net.Conn          // the descriptor, as a *net.TCPConn
	outer    net.Conn // as accepted: closed already underneath, its Close releases the slots
	once     sync.Once
}

func (h *handed) Close() error {
	err := h.Conn.Close()
	h.once.Do(func() { _ = h.outer.Close() })
	return err
}

// Transparent is the connection underneath (connlimit.Unwrap): the comet writes a
// WebSocket's frames to its descriptor directly.
func (h *handed) Transparent() net.Conn { return h.Conn }

// SyscallConn reaches the descriptor.
func (h *handed) SyscallConn() (syscall.RawConn, error) {
	return h.Conn.(syscall.Conn).SyscallConn()
}

// CloseWrite half-closes the connection (net/http ends a refusal so).
func (h *handed) CloseWrite() error { return h.Conn.(*net.TCPConn).CloseWrite() }

// tcpOf is the *net.TCPConn under an accepted connection (its NetConn or Transparent
// wrappers), or nil.
func tcpOf(nc net.Conn) *net.TCPConn {
	for range 8 {
		switch c := nc.(type) {
		case *net.TCPConn:
			return c
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		case interface{ Transparent() net.Conn }:
			if nc = c.Transparent(); nc == nil {
				return nil
			}
		default:
			return nil
		}
	}
	return nil
}

// adopt puts an accepted connection (outer), or one the lane gives back (from), on a loop.
func (s *Server) adopt(outer net.Conn, from *handed) bool {
	nc := outer
	if from != nil {
		nc = from.Conn
	}
	tc := tcpOf(nc)
	if tc == nil || s.shutting.Load() {
		if from == nil { // not TCP (or shutting down): the lane's
			s.Lane.ServeConn(outer, nil, false)
		}
		return false
	}
	fd, err := epoll.Detach(tc)
	if err != nil {
		s.Log.Warn("gateway loop: a connection stays with the lane", "err", err)
		if from == nil {
			s.Lane.ServeConn(outer, nil, false)
		}
		return false
	}
	if from != nil {
		outer = from.outer
	}
	l := s.loops[s.next.Add(1)%uint64(len(s.loops))]
	s.connOpened()
	l.post(task{kind: taskAdopt, fd: fd, conn: outer})
	return true
}

// giveBack is the lane's Return: a connection it served one request of, idle again.
func (s *Server) giveBack(nc net.Conn) bool {
	for range 8 {
		switch c := nc.(type) {
		case *handed:
			return s.adopt(nil, c)
		case interface{ Transparent() net.Conn }:
			if nc = c.Transparent(); nc == nil {
				return false // bytes the lane has not read yet
			}
		default:
			return false
		}
	}
	return false
}

// attach gives a descriptor of the loop's back to Go's poller as a connection.
func attach(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("loop: back to a connection: %w", err)
	}
	return nc, nil
}
