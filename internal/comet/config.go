package comet

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// Config of the comet (connection tier).
type Config struct {
	// ServerID names this comet to logic (connection ownership, online
	// reports). Empty means the host name.
	ServerID string `yaml:"server_id"`
	// AdvertiseAddr is the gRPC address jobs in other processes reach this comet at; it is
	// shared with every job through logic's presence reports, so a new comet is used without
	// a restart. Empty = grpc_addr, with an unspecified host replaced by this host's name
	// (none without grpc_addr).
	AdvertiseAddr string `yaml:"advertise_addr"`
	// TCPAddr is the raw-TCP listener address (Bilibili uses port 2243).
	// Empty means no TCP listener; WebSocket clients come through Handler.
	TCPAddr string `yaml:"tcp_addr"`
	// TLSCertFile and TLSKeyFile, when both set, make the raw TCP listener TLS (re-read when
	// they change). Its connections then are read by a goroutine each and written through
	// their send queue: the epoll poller and direct writes need the plain socket.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Buckets is the number of shards rooms are spread over; each has its own
	// lock, so joins, leaves and pushes in different buckets never contend.
	Buckets int `yaml:"buckets"`
	// SendQueue is how many pending writes one connection may have. A
	// connection whose queue is full is closed (counted as "queue_full") so a
	// slow reader never holds up its room.
	SendQueue int `yaml:"send_queue"`
	// AuthTimeout is how long a new connection has to send its auth packet.
	AuthTimeout time.Duration `yaml:"auth_timeout"`
	// HeartbeatTimeout closes a connection that sent nothing for this long
	// (clients send a heartbeat every 30 s).
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// ReportInterval is how often per-room counts of distinct viewers are
	// sent to logic, which answers with the popularity heartbeat replies carry.
	ReportInterval time.Duration `yaml:"report_interval"`
	// MaxPacket bounds one client packet (header + body); a larger one is a
	// protocol error that closes the connection.
	MaxPacket int `yaml:"max_packet"`
	// WriteTimeout bounds one write to a connection; a connection that
	// cannot take its data in time is closed ("write_error").
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// SendBuffer is the kernel send buffer of each client socket
	// (SO_SNDBUF), in bytes: the most a viewer that stopped reading can
	// absorb before a write to it blocks and write_timeout starts to count.
	// 0 keeps the kernel's autotuning, which grows the buffer of a stalled
	// viewer that still sends (heartbeats carry ACKs) up to
	// net.ipv4.tcp_wmem's maximum (4 MiB by default), so such a viewer is
	// dropped only at heartbeat_timeout, if at all. Linux reserves twice the
	// value for bookkeeping.
	SendBuffer int `yaml:"send_buffer"`
	// LogicTimeout bounds each call to logic (connect, disconnect, report).
	LogicTimeout time.Duration `yaml:"logic_timeout"`
	// MaxConnsPerIP caps connections from one client IP, TCP and WebSocket
	// counted together (0 = no limit). Viewers behind one carrier NAT share an
	// address, so the default (128) is generous: far more viewers of one
	// address than one node normally serves, yet one address cannot take more
	// than a small share of the process total (conns.max_total). A load test
	// from one machine sets it to 0.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// Poller parks authenticated connections that are waiting for input in an
	// epoll set instead of a blocked reader goroutine each, so an idle
	// connection holds no goroutine stack. A packet wakes a short-lived
	// goroutine that reads and answers it. false keeps one reader goroutine per
	// connection. Only Linux has the poller; elsewhere the setting is ignored
	// and every connection has a reader goroutine.
	Poller bool `yaml:"poller"`
	// DirectWrites lets a push write a batch straight to the socket of a
	// connection that has nothing queued, without blocking, from a few
	// fan-out goroutines (one per core). Only a connection whose socket
	// buffer is full gets a send queue and a writer goroutine. false queues
	// every frame and wakes a writer goroutine per connection per push.
	DirectWrites bool `yaml:"direct_writes"`
}

// Defaults.
const (
	DefaultTCPAddr          = ":2243"
	DefaultBuckets          = 32
	DefaultSendQueue        = 64
	DefaultAuthTimeout      = 5 * time.Second
	DefaultHeartbeatTimeout = 90 * time.Second
	DefaultReportInterval   = 2 * time.Second
	DefaultMaxPacket        = protocol.DefaultMaxPacket
	DefaultWriteTimeout     = 10 * time.Second
	DefaultSendBuffer       = 256 << 10
	DefaultLogicTimeout     = 3 * time.Second
	DefaultPoller           = true
	DefaultDirectWrites     = true
	DefaultMaxConnsPerIP    = 128
)

// Bounds of send_buffer: the kernel's own minimum is about 4.5 KiB.
const (
	minSendBuffer = 4 << 10
	maxSendBuffer = 64 << 20
)

// DefaultConfig is the configuration RegisterFlags installs.
func DefaultConfig() Config {
	return Config{
		TCPAddr:          DefaultTCPAddr,
		Buckets:          DefaultBuckets,
		SendQueue:        DefaultSendQueue,
		AuthTimeout:      DefaultAuthTimeout,
		HeartbeatTimeout: DefaultHeartbeatTimeout,
		ReportInterval:   DefaultReportInterval,
		MaxPacket:        DefaultMaxPacket,
		WriteTimeout:     DefaultWriteTimeout,
		SendBuffer:       DefaultSendBuffer,
		LogicTimeout:     DefaultLogicTimeout,
		Poller:           DefaultPoller,
		DirectWrites:     DefaultDirectWrites,
		MaxConnsPerIP:    DefaultMaxConnsPerIP,
	}
}

// RegisterFlags binds every field to a flag named prefix+yaml name (for
// example "comet.tcp_addr") and sets the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.AdvertiseAddr, prefix+"advertise_addr", "", "gRPC address jobs reach this comet at, shared through presence (empty = grpc_addr, an unspecified host replaced by the host name).")
	fs.StringVar(&c.ServerID, prefix+"server_id", "", "name of this comet reported to logic; empty means the host name")
	fs.StringVar(&c.TLSCertFile, prefix+"tls_cert_file", "", "PEM certificate (chain) of the raw TCP listener: TLS when set with tls_key_file; re-read when it changes (TLS connections skip the epoll poller).")
	fs.StringVar(&c.TLSKeyFile, prefix+"tls_key_file", "", "PEM private key of tls_cert_file.")
	fs.StringVar(&c.TCPAddr, prefix+"tcp_addr", DefaultTCPAddr, "raw TCP listen address for Bilibili-protocol clients; empty means no TCP listener")
	fs.IntVar(&c.Buckets, prefix+"buckets", DefaultBuckets, "number of room shards, each with its own lock")
	fs.IntVar(&c.SendQueue, prefix+"send_queue", DefaultSendQueue, "pending writes per connection before it is closed as too slow")
	fs.DurationVar(&c.AuthTimeout, prefix+"auth_timeout", DefaultAuthTimeout, "time a new connection has to send its auth packet")
	fs.DurationVar(&c.HeartbeatTimeout, prefix+"heartbeat_timeout", DefaultHeartbeatTimeout, "a connection silent for this long is closed")
	fs.DurationVar(&c.ReportInterval, prefix+"report_interval", DefaultReportInterval, "how often per-room counts of distinct viewers are reported to logic")
	fs.IntVar(&c.MaxPacket, prefix+"max_packet", DefaultMaxPacket, "largest client packet in bytes (header + body); larger is a protocol error")
	fs.DurationVar(&c.WriteTimeout, prefix+"write_timeout", DefaultWriteTimeout, "deadline of one write to a connection; a connection that misses it is closed")
	fs.IntVar(&c.SendBuffer, prefix+"send_buffer", DefaultSendBuffer, "kernel send buffer of each client socket in bytes: what a viewer that stopped reading absorbs before write_timeout counts; 0 means kernel autotuning (up to 4 MiB)")
	fs.DurationVar(&c.LogicTimeout, prefix+"logic_timeout", DefaultLogicTimeout, "deadline of each call to logic (connect, disconnect, report)")
	fs.IntVar(&c.MaxConnsPerIP, prefix+"max_conns_per_ip", DefaultMaxConnsPerIP, "connections allowed from one client IP, TCP and WebSocket together; 0 means no limit (load tests from one machine)")
	fs.BoolVar(&c.Poller, prefix+"poller", DefaultPoller, "park idle connections in epoll instead of a reader goroutine each (Linux; ignored elsewhere)")
	fs.BoolVar(&c.DirectWrites, prefix+"direct_writes", DefaultDirectWrites, "pushes write to idle sockets without blocking from one goroutine per core; false wakes a writer goroutine per connection (Unix; ignored elsewhere)")
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("comet: "+format, args...))
		}
	}
	check(c.Buckets >= 1 && c.Buckets <= 1<<16, "buckets %d not in 1..65536", c.Buckets)
	check((c.TLSCertFile == "") == (c.TLSKeyFile == ""), "tls_cert_file and tls_key_file go together")
	check(c.SendQueue >= 1 && c.SendQueue <= 1<<16, "send_queue %d not in 1..65536", c.SendQueue)
	check(c.AuthTimeout > 0, "auth_timeout must be positive")
	check(c.HeartbeatTimeout > 0, "heartbeat_timeout must be positive")
	check(c.ReportInterval > 0, "report_interval must be positive")
	check(c.WriteTimeout > 0, "write_timeout must be positive")
	check(c.SendBuffer == 0 || (c.SendBuffer >= minSendBuffer && c.SendBuffer <= maxSendBuffer),
		"send_buffer %d: want 0 or %d..%d", c.SendBuffer, minSendBuffer, maxSendBuffer)
	check(c.LogicTimeout > 0, "logic_timeout must be positive")
	check(c.MaxConnsPerIP >= 0, "max_conns_per_ip must not be negative")
	minPacket := protocol.MaxAuthPacket
	check(c.MaxPacket >= minPacket && c.MaxPacket <= 16<<20,
		"max_packet %d not in %d..%d (must hold an auth packet)", c.MaxPacket, minPacket, 16<<20)
	return errors.Join(errs...)
}
