package bench

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "http://127.3.4.5", "http://[::1]:8080",
		"https://LOCALHOST", "nats://127.0.0.1:4222"} {
		require.NoError(t, CheckLoopbackURL(ok), ok)
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://example.com", "http://192.168.1.2", "http://0.0.0.0:8080",
		"http://localhost.example.com", "http://[::]:80", "http://128.0.0.1"} {
		require.ErrorIs(t, CheckLoopbackURL(bad), ErrNotLoopback, bad)
	}
	require.Error(t, CheckLoopbackURL("ftp://127.0.0.1"), "only http(s), ws(s) and nats schemes")
	require.Error(t, CheckLoopbackURL("127.0.0.1:8080"), "a bare host:port is not a URL")

	c := DefaultConfig()
	c.URL = "http://example.com:8080"
	require.ErrorContains(t, c.Validate(), "url: host \"example.com\"")
	c = DefaultConfig()
	c.Queue = "nats://10.0.0.1:4222"
	require.ErrorIs(t, c.Validate(), ErrNotLoopback)
	c = DefaultConfig()
	c.TCPAddr = "10.0.0.1:2243"
	require.ErrorIs(t, c.Validate(), ErrNotLoopback)
}

func TestConfigDefaultsAreValidAndBounded(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, c.Validate())
	require.Equal(t, 1000, c.Conns)
	require.Equal(t, 10*time.Second, c.Duration)

	for name, mut := range map[string]func(*Config){
		"duration": func(c *Config) { c.Duration = time.Hour },
		"conns":    func(c *Config) { c.Conns = 0 },
		"rooms":    func(c *Config) { c.Rooms = c.Conns + 1 },
		"rate":     func(c *Config) { c.Rate = -1 },
		"slow":     func(c *Config) { c.Slow = -1 },
		"protover": func(c *Config) { c.ProtoVer = 1 },
		"msg_size": func(c *Config) { c.MsgSize = 10 },
		"ws_ratio": func(c *Config) { c.WSRatio = 1.5 },
	} {
		c := DefaultConfig()
		mut(&c)
		require.ErrorContains(t, c.Validate(), name)
	}
}

func TestFlagsBindEveryField(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "bench.")
	require.NoError(t, fs.Parse([]string{"-bench.conns", "7", "-bench.duration", "3s", "-bench.tcp", "-bench.protover", "3"}))
	require.Equal(t, 7, c.Conns)
	require.Equal(t, 3*time.Second, c.Duration)
	require.Equal(t, 0.0, c.WSRatio)
	require.Equal(t, 3, c.ProtoVer)
	for _, name := range []string{"url", "rooms", "rate", "drain", "setup_timeout", "ws_ratio", "ws", "tcp_addr", "sources",
		"sample", "ramp", "dialers", "msg_size", "senders", "sender_rate", "heartbeat", "queue", "queue_namespace", "pid", "json", "html", "slow"} {
		require.NotNil(t, fs.Lookup("bench."+name), name)
	}
}
