// Package cachetest gives tests a Redis of their own (redis-server from the system on a free
// loopback port), which a test may stop and start again to take the cache away from the
// processes using it.
package cachetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/cache"
)

// EnvAddr names the variable with the address of the Redis of integration tests.
const EnvAddr = "ZHIBO_TEST_REDIS_ADDR"

// Open connects to the Redis of EnvAddr, or to a private one where it is not set, with its keys
// under prefix and a part of its own (a run never sees another's keys); it closes when t ends.
func Open(t testing.TB, prefix string) *cache.Redis {
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		addr = NewServer(t).Addr()
	}
	r, err := cache.Open(cache.Config{Addr: addr, LocalTTL: time.Minute, LocalBytes: 1 << 20, Timeout: time.Second,
		Prefix: fmt.Sprintf("%s%d:", prefix, time.Now().UnixNano())}, nil, nil)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r
}

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
