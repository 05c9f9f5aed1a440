// Package cachetest gives tests a Redis of their own (redis-server from the system on a free
// loopback port), which a test may stop and start again to take the cache away from the
// processes using it.
package cachetest

import (
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Server is a private redis-server.
type Server struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

// NewServer starts a private Redis; it stops when t ends. It skips t where redis-server is
// missing.
func NewServer(t testing.TB) *Server {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed: private Redis test skipped")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{t: t, port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Start starts the server (again, empty: nothing is saved) and waits until it answers.
func (s *Server) Start() {
	s.cmd = exec.Command("redis-server", "--port", fmt.Sprint(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	require.NoError(s.t, s.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("private Redis did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}
