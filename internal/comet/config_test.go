package comet

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestRegisterFlagsCoversEveryField(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "comet.")
	require.Equal(t, DefaultConfig(), cfg, "flags install the defaults")

	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("yaml")
		require.NotEmpty(t, tag, typ.Field(i).Name)
		f := fs.Lookup("comet." + tag)
		require.NotNil(t, f, "flag for %s", tag)
		require.NotEmpty(t, f.Usage)
	}

	require.NoError(t, fs.Parse([]string{"-comet.tcp_addr=", "-comet.auth_timeout=2s", "-comet.send_queue=8"}))
	require.Empty(t, cfg.TCPAddr)
	require.Equal(t, 2*time.Second, cfg.AuthTimeout)
	require.Equal(t, 8, cfg.SendQueue)
}

func TestConfigYAML(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, yaml.Unmarshal([]byte("tcp_addr: \":9000\"\nheartbeat_timeout: 45s\nbuckets: 64\n"), &cfg))
	require.Equal(t, ":9000", cfg.TCPAddr)
	require.Equal(t, 45*time.Second, cfg.HeartbeatTimeout)
	require.Equal(t, 64, cfg.Buckets)
	require.NoError(t, cfg.Validate())
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	bad := DefaultConfig()
	bad.Buckets = 0
	bad.SendQueue = 0
	bad.AuthTimeout = 0
	bad.HeartbeatTimeout = -1
	bad.ReportInterval = 0
	bad.WriteTimeout = 0
	bad.LogicTimeout = 0
	bad.MaxPacket = 100
	bad.SendBuffer = 100
	err := bad.Validate()
	require.Error(t, err)
	for _, name := range []string{"buckets", "send_queue", "auth_timeout", "heartbeat_timeout",
		"report_interval", "write_timeout", "logic_timeout", "max_packet", "send_buffer"} {
		require.True(t, strings.Contains(err.Error(), name), "error mentions %s: %v", name, err)
	}
}

func TestNewChecksDeps(t *testing.T) {
	_, err := New(DefaultConfig(), Deps{})
	require.ErrorContains(t, err, "Logic")

	bad := DefaultConfig()
	bad.Buckets = 0
	_, err = New(bad, Deps{Logic: &fakeLogic{}})
	require.Error(t, err)

	reg := prometheus.NewRegistry()
	s, err := New(DefaultConfig(), Deps{Logic: &fakeLogic{}, Registry: reg})
	require.NoError(t, err)
	require.NotEmpty(t, s.ServerID(), "empty server_id becomes the host name")
	require.Nil(t, s.TCPAddr(), "nothing listens before Start")
	_, err = New(DefaultConfig(), Deps{Logic: &fakeLogic{}, Registry: reg})
	require.Error(t, err, "a second comet cannot register the same metrics in one registry")

	// A Service that never started stops cleanly and refuses connections.
	require.NoError(t, s.Stop(t.Context()))
}

func TestNoTCPListener(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.TCPAddr = "" })
	require.Nil(t, e.svc.TCPAddr())
	c := e.dialWS(t)
	c.join(1, 3)
}
