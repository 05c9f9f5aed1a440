// Package queuetest gives tests a NATS JetStream server to talk to over the network: the real
// one named by ZHIBO_TEST_NATS_URL when it is set, otherwise a server started in the test's own
// process on a loopback port, so tests of separate processes (split mode) run on any machine.
package queuetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// EnvNATS names the variable with an external NATS JetStream URL for integration tests.
const EnvNATS = "ZHIBO_TEST_NATS_URL"

// URL is the NATS URL a test should use: $ZHIBO_TEST_NATS_URL, or that of an in-process
// JetStream server on 127.0.0.1 (a free port, its store in t's temp dir) that stops when t ends.
func URL(t testing.TB) string {
	if url := os.Getenv(EnvNATS); url != "" {
		return url
	}
	return NewServer(t).URL()
}

// Server is a JetStream server of the test's own, in its process, that the test may stop and
// start again (same port, same store) to take the queue away from the processes using it.
type Server struct {
	t    testing.TB
	opts server.Options
	ns   *server.Server
}

// NewServer starts a server on a free loopback port; it stops when t ends.
func NewServer(t testing.TB) *Server {
	s := &Server{t: t, opts: server.Options{ServerName: "zhibo-test", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	s.Start()
	s.opts.Port = s.ns.Addr().(*net.TCPAddr).Port // a restart comes back on the same port
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// Start starts the server (again).
func (s *Server) Start() {
	opts := s.opts
	ns, err := server.NewServer(&opts)
	require.NoError(s.t, err)
	ns.Start()
	require.True(s.t, ns.ReadyForConnections(30*time.Second), "in-process NATS did not start")
	s.ns = ns
}

// Stop shuts the server down; its store stays for Start.
func (s *Server) Stop() {
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.ns = nil
	}
}

// Namespace returns a queue namespace no other test uses, for a test on the server at url, and
// removes every stream it leaves there when t ends — the streams of the namespace and those
// behind its key-value buckets (KV_<namespace>_…). A push stream reserves its max_bytes of the
// server's storage, so streams left behind would in time have new ones refused.
func Namespace(t testing.TB, url, prefix string) string {
	ns := fmt.Sprintf("%s%d", prefix, time.Now().UnixNano())
	t.Cleanup(func() { DeleteStreams(t, url, ns+"_") })
	return ns
}

// DeleteStreams removes the streams whose names start with prefix, and those behind key-value
// buckets whose names do, from the server at url.
func DeleteStreams(t testing.TB, url, prefix string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var doomed []string
	for name := range names.Name() {
		if strings.HasPrefix(name, prefix) || strings.HasPrefix(name, "KV_"+prefix) {
			doomed = append(doomed, name)
		}
	}
	if err := names.Err(); err != nil {
		t.Logf("cleanup: list streams: %v", err)
	}
	for _, name := range doomed {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Logf("cleanup: delete stream %s: %v", name, err)
		}
	}
}
