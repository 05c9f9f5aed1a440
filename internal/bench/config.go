package bench

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Bounds every run stays within, so a load test always stops by itself.
const (
	maxDuration = 10 * time.Minute
	maxConns    = 500_000
	maxRate     = 1_000_000
	// connsPerSource is how many connections one 127.0.0.x source address carries before the
	// automatic choice of sources adds another (ephemeral ports run out near 28k).
	connsPerSource = 20_000
)

// Config is one fanout run: where the platform is, how many viewers in how many rooms, and
// how fast comments are sent.
type Config struct {
	// URL is the platform's HTTP base; only loopback hosts (127.0.0.0/8, ::1, localhost)
	// are accepted, because a load test must not leave the machine.
	URL string `yaml:"url" json:"url"`
	// Conns is the number of viewer connections.
	Conns int `yaml:"conns" json:"conns"`
	// Rooms is the number of rooms the connections are spread over (one anchor each).
	Rooms int `yaml:"rooms" json:"rooms"`
	// Rate is comments per second sent in total, over all rooms; 0 is an idle run (connections
	// and heartbeats only), e.g. to measure the server's memory per connection.
	Rate float64 `yaml:"rate" json:"rate"`
	// Slow is how many extra viewers join the rooms, authenticate and then never read; the
	// report says when the server disconnected each, while the other viewers are measured as
	// usual.
	Slow int `yaml:"slow" json:"slow"`
	// Duration is how long comments are sent, after every connection is up.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// Drain is how long to wait after the last send for messages still in flight.
	Drain time.Duration `yaml:"drain" json:"drain"`
	// SetupTimeout bounds registration, room creation and opening the connections.
	SetupTimeout time.Duration `yaml:"setup_timeout" json:"setup_timeout"`
	// WSRatio is the share of connections over WebSocket; the rest use raw TCP.
	WSRatio float64 `yaml:"ws_ratio" json:"ws_ratio"`
	// TCPAddr is the comet's raw TCP address; empty means the one danmu-info announces.
	TCPAddr string `yaml:"tcp_addr" json:"tcp_addr"`
	// ProtoVer is the protover viewers ask for: 0 plain, 2 zlib, 3 brotli.
	ProtoVer int `yaml:"protover" json:"protover"`
	// Sources is how many local addresses 127.0.0.1.. connections are spread over; 0 picks
	// one per 20,000 connections.
	Sources int `yaml:"sources" json:"sources"`
	// Sample is how many connections check every sender's sequence for loss and order.
	Sample int `yaml:"sample" json:"sample"`
	// ConnsPerToken is how many viewers share one guest connection token (fetched from
	// danmu-info before connecting). 1 makes every viewer a distinct guest, so the room's
	// online count equals its viewers; more must stay within the server's
	// logic.max_conns_per_token, which refuses the rest.
	ConnsPerToken int `yaml:"conns_per_token" json:"conns_per_token"`
	// Ramp is how many connections are opened per second; 0 means as fast as Dialers allow.
	Ramp float64 `yaml:"ramp" json:"ramp"`
	// Dialers is how many connections are being opened at once.
	Dialers int `yaml:"dialers" json:"dialers"`
	// Poll reads every connection through epoll from one goroutine per core (Linux) instead
	// of a goroutine per connection.
	Poll bool `yaml:"poll" json:"poll"`
	// MsgSize is the length of each comment's text in characters.
	MsgSize int `yaml:"msg_size" json:"msg_size"`
	// Senders is how many sending users (or queue publishers); 0 means enough for Rate at
	// SenderRate each.
	Senders int `yaml:"senders" json:"senders"`
	// SenderRate is comments per second one sender sends; it must fit the server's
	// per-user limit (danmaku.rate, 1/s by default).
	SenderRate float64 `yaml:"sender_rate" json:"sender_rate"`
	// Heartbeat is the interval of op-2 heartbeats on every connection.
	Heartbeat time.Duration `yaml:"heartbeat" json:"heartbeat"`
	// Queue, when set, publishes comments straight into the push stream of this NATS
	// JetStream instead of through the HTTP API (loopback only).
	Queue string `yaml:"queue" json:"queue"`
	// QueueNamespace is the server's queue.namespace, the prefix of the push subjects.
	QueueNamespace string `yaml:"queue_namespace" json:"queue_namespace"`
	// PID, when positive, is the server process whose resident memory is read from /proc
	// before and after connecting.
	PID int `yaml:"pid" json:"pid"`
	// JSON and HTML are files the report is written to; empty means none.
	JSON string `yaml:"json" json:"json"`
	HTML string `yaml:"html" json:"html"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.URL, prefix+"url", "http://127.0.0.1:8080", "platform HTTP base URL; loopback hosts only (127.0.0.0/8, ::1, localhost).")
	fs.IntVar(&c.Conns, prefix+"conns", 1000, "viewer connections to open.")
	fs.IntVar(&c.Rooms, prefix+"rooms", 1, "rooms to spread the connections over (one anchor user each).")
	fs.Float64Var(&c.Rate, prefix+"rate", 100, "comments per second in total, over all rooms (0 = idle: connections and heartbeats only, for -pid memory figures).")
	fs.IntVar(&c.Slow, prefix+"slow", 0, "extra viewers (room i mod rooms) that authenticate and never read, with a 4 KiB receive buffer; the report says when the server disconnected each (0 = none).")
	fs.DurationVar(&c.Duration, prefix+"duration", 10*time.Second, "how long comments are sent once every connection is up (at most 10m).")
	fs.DurationVar(&c.Drain, prefix+"drain", 2*time.Second, "wait after the last send for messages in flight before counting loss.")
	fs.DurationVar(&c.SetupTimeout, prefix+"setup_timeout", 2*time.Minute, "bound on registering users, creating rooms and opening connections.")
	fs.Float64Var(&c.WSRatio, prefix+"ws_ratio", 1, "share of connections over WebSocket (1 = all, 0 = all raw TCP).")
	fs.BoolFunc(prefix+"ws", "every connection over WebSocket (ws_ratio 1).", func(string) error { c.WSRatio = 1; return nil })
	fs.BoolFunc(prefix+"tcp", "every connection over raw TCP (ws_ratio 0).", func(string) error { c.WSRatio = 0; return nil })
	fs.StringVar(&c.TCPAddr, prefix+"tcp_addr", "", "comet raw TCP host:port (empty = the port danmu-info announces, on the URL's host).")
	fs.IntVar(&c.ProtoVer, prefix+"protover", 2, "protover viewers ask for: 0 plain, 2 zlib, 3 brotli.")
	fs.IntVar(&c.Sources, prefix+"sources", 0, "local source addresses 127.0.0.1, 127.0.0.2, … to spread connections over (0 = one per 20000 connections).")
	fs.IntVar(&c.Sample, prefix+"sample", 100, "connections that check every sender's sequence for loss and order (0 = none).")
	fs.IntVar(&c.ConnsPerToken, prefix+"conns_per_token", 1, "viewers per guest connection token, fetched concurrently before connecting (1 = one each, so online = viewers; keep within the server's logic.max_conns_per_token).")
	fs.Float64Var(&c.Ramp, prefix+"ramp", 0, "connections opened per second (0 = as fast as -dialers allow).")
	fs.IntVar(&c.Dialers, prefix+"dialers", 64, "connections being opened at once.")
	fs.BoolVar(&c.Poll, prefix+"poll", true, "read the connections through epoll, one goroutine per core (Linux), instead of a goroutine each: the generator then takes less of a shared machine's CPU.")
	fs.IntVar(&c.MsgSize, prefix+"msg_size", 64, "characters per comment (the server's danmaku.max_runes, 100 by default, bounds it in API mode).")
	fs.IntVar(&c.Senders, prefix+"senders", 0, "sending users or queue publishers (0 = rate / sender_rate, at least one per room).")
	fs.Float64Var(&c.SenderRate, prefix+"sender_rate", 1, "comments per second per sender; keep within the server's danmaku.rate unless it is 0.")
	fs.DurationVar(&c.Heartbeat, prefix+"heartbeat", 30*time.Second, "heartbeat interval on every connection.")
	fs.StringVar(&c.Queue, prefix+"queue", "", "NATS URL: publish comments straight into the push stream instead of the HTTP API (empty = API; loopback only).")
	fs.StringVar(&c.QueueNamespace, prefix+"queue_namespace", "zhibo", "the server's queue.namespace (prefix of push subjects).")
	fs.IntVar(&c.PID, prefix+"pid", 0, "server process id whose RSS is read before and after connecting (0 = not measured).")
	fs.StringVar(&c.JSON, prefix+"json", "", "write the JSON report to this file (empty = none).")
	fs.StringVar(&c.HTML, prefix+"html", "", "write an HTML report with latency and throughput charts to this file (empty = none).")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("bench", flag.ContinueOnError), "")
	return c
}

// Validate checks every field and names the offending one.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := CheckLoopbackURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.TCPAddr != "" {
		if host, _, err := net.SplitHostPort(c.TCPAddr); err != nil {
			add("tcp_addr %q: want host:port", c.TCPAddr)
		} else if err := CheckLoopbackHost(host); err != nil {
			errs = append(errs, fmt.Errorf("tcp_addr: %w", err))
		}
	}
	if c.Queue != "" {
		if err := CheckLoopbackURL(c.Queue); err != nil {
			errs = append(errs, fmt.Errorf("queue: %w", err))
		}
	}
	if c.Conns < 1 || c.Conns > maxConns {
		add("conns %d: want 1..%d", c.Conns, maxConns)
	}
	if c.Rooms < 1 || c.Rooms > c.Conns {
		add("rooms %d: want 1..conns", c.Rooms)
	}
	if !(c.Rate >= 0 && c.Rate <= maxRate) {
		add("rate %v: want 0..%d comments/s", c.Rate, maxRate)
	}
	if c.Slow < 0 || c.Slow > 10_000 {
		add("slow %d: want 0..10000", c.Slow)
	}
	if c.Duration < time.Second || c.Duration > maxDuration {
		add("duration %s: want 1s..%s", c.Duration, maxDuration)
	}
	if c.Drain < 0 || c.Drain > time.Minute {
		add("drain %s: want 0..1m", c.Drain)
	}
	if c.SetupTimeout < time.Second || c.SetupTimeout > maxDuration {
		add("setup_timeout %s: want 1s..%s", c.SetupTimeout, maxDuration)
	}
	if !(c.WSRatio >= 0 && c.WSRatio <= 1) {
		add("ws_ratio %v: want 0..1", c.WSRatio)
	}
	if c.ProtoVer != 0 && c.ProtoVer != 2 && c.ProtoVer != 3 {
		add("protover %d: want 0, 2 or 3", c.ProtoVer)
	}
	if c.Sources < 0 || c.Sources > 250 {
		add("sources %d: want 0..250", c.Sources)
	}
	if c.Sample < 0 {
		add("sample %d: want >= 0", c.Sample)
	}
	if c.ConnsPerToken < 1 || c.ConnsPerToken > 1000 {
		add("conns_per_token %d: want 1..1000", c.ConnsPerToken)
	}
	if !(c.Ramp >= 0) {
		add("ramp %v: want >= 0", c.Ramp)
	}
	if c.Dialers < 1 || c.Dialers > 10_000 {
		add("dialers %d: want 1..10000", c.Dialers)
	}
	if c.MsgSize < minMsgSize || c.MsgSize > 500 {
		add("msg_size %d: want %d..500", c.MsgSize, minMsgSize)
	}
	if c.Senders < 0 || c.Senders > 100_000 {
		add("senders %d: want 0..100000", c.Senders)
	}
	if !(c.SenderRate > 0) {
		add("sender_rate %v: want > 0", c.SenderRate)
	}
	if c.Heartbeat < time.Second {
		add("heartbeat %s: want >= 1s", c.Heartbeat)
	}
	if c.Queue != "" && (c.QueueNamespace == "" || strings.ContainsAny(c.QueueNamespace, ". *>\t")) {
		add("queue_namespace %q: want a name without dots, spaces or wildcards", c.QueueNamespace)
	}
	if c.PID < 0 {
		add("pid %d: want >= 0", c.PID)
	}
	return errors.Join(errs...)
}

// ErrNotLoopback is returned for a target outside this machine.
var ErrNotLoopback = errors.New("load tests only target this machine (127.0.0.0/8, ::1 or localhost)")

// CheckLoopbackURL accepts http, https, ws, wss and nats URLs whose host is a loopback
// address or "localhost".
func CheckLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss", "nats":
	default:
		return fmt.Errorf("%q: want an http:// (or nats://) URL", raw)
	}
	return CheckLoopbackHost(u.Hostname())
}

// CheckLoopbackHost accepts "localhost" and literal loopback addresses; names are not
// resolved, so a DNS answer cannot point a load test elsewhere.
func CheckLoopbackHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q: %w", host, ErrNotLoopback)
	}
	return nil
}
