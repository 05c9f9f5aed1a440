//go:build !linux

package loop

import (
	"context"
	"net"
)

type impl struct{}

// Available reports whether event loops run on this system: not here (epoll is Linux's).
func Available() bool { return false }

// Serve hands every connection to the lane: there are no event loops here.
func (s *Server) Serve(ln net.Listener) error { return s.Lane.Serve(ln) }

// Shutdown shuts the lane down.
func (s *Server) Shutdown(ctx context.Context) error { return s.Lane.Shutdown(ctx) }
