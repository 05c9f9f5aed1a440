// Package queuetest gives tests a NATS JetStream server to talk to over the network: the real
// one named by ZHIBO_TEST_NATS_URL when it is set, otherwise a server started in the test's own
// process on a loopback port, so tests of separate processes (split mode) run on any machine.
package queuetest

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
	ns, err := server.NewServer(&server.Options{
		ServerName: "zhibo-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(30*time.Second), "in-process NATS did not start")
	return ns.ClientURL()
}
