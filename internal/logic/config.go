package logic

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Host is one entry of the danmu-info host list clients connect to.
type Host struct {
	Host    string `yaml:"host" json:"host"`
	Port    int    `yaml:"port" json:"port"`         // raw TCP
	WSPort  int    `yaml:"ws_port" json:"ws_port"`   // WebSocket (ws://host:ws_port/sub)
	WSSPort int    `yaml:"wss_port" json:"wss_port"` // WebSocket over TLS, 0 = none
}

// Config of the logic component.
type Config struct {
	// ConnTokenTTL is how long a danmu-info token may be used to open a connection.
	ConnTokenTTL time.Duration `yaml:"conn_token_ttl"`
	// CometTTL drops a comet's counts when it has not reported for this long (it died).
	CometTTL time.Duration `yaml:"comet_ttl"`
	// CountInterval is how often rooms whose audience changed get WATCHED_CHANGE and
	// ONLINE_RANK_COUNT (0 = never).
	CountInterval time.Duration `yaml:"count_interval"`
	// MaxConnsPerToken is how many connections one connection token may hold open at once,
	// across every comet reporting to this logic (0 = no limit). A client opens one; a few
	// more cover a reconnect that races the old connection's close. A token whose slots are
	// taken is refused like a bad one (-101). The slots are this logic process's: behind
	// several logic nodes a token may hold up to this many per node, and a Disconnect that
	// reaches another node than its Connect frees its slot only when the token expires.
	MaxConnsPerToken int `yaml:"max_conns_per_token"`
	// EntryInterval is the least time between two INTERACT_WORD "entered" announcements of
	// one user in one room (0 = announce every entry).
	EntryInterval time.Duration `yaml:"entry_interval"`
	// EntryRoomRate caps "entered" announcements per room per second, so a crowd arriving
	// at once does not bury the chat (0 = no cap).
	EntryRoomRate int `yaml:"entry_room_rate"`
	// Hosts is the public host list of danmu-info; empty = this node's own listeners, with the
	// host name the client used.
	Hosts []Host `yaml:"hosts"`
}

// Defaults of the edge limits.
const (
	DefaultMaxConnsPerToken = 3
	DefaultEntryInterval    = 5 * time.Minute
	DefaultEntryRoomRate    = 20
)

// LiveKeys are the settings (below the logic. prefix) that Reload changes in a running
// service: the edge limits of connections and entry announcements. Any other needs a restart.
func LiveKeys() []string { return []string{"max_conns_per_token", "entry_interval", "entry_room_rate"} }

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.ConnTokenTTL, prefix+"conn_token_ttl", time.Hour, "lifetime of a long-connection token from danmu-info.")
	fs.DurationVar(&c.CometTTL, prefix+"comet_ttl", 15*time.Second, "forget a comet's counts after this long without a report.")
	fs.DurationVar(&c.CountInterval, prefix+"count_interval", 5*time.Second, "period of WATCHED_CHANGE / ONLINE_RANK_COUNT pushes (0 = never).")
	fs.IntVar(&c.MaxConnsPerToken, prefix+"max_conns_per_token", DefaultMaxConnsPerToken, "connections one connection token may hold open at once, across comets (0 = no limit).")
	fs.DurationVar(&c.EntryInterval, prefix+"entry_interval", DefaultEntryInterval, "least time between two INTERACT_WORD entry announcements of one user in one room (0 = every entry).")
	fs.IntVar(&c.EntryRoomRate, prefix+"entry_room_rate", DefaultEntryRoomRate, "entry announcements per room per second at most (0 = no cap).")
	fs.Func(prefix+"hosts", "public host list, comma-separated host:tcp_port:ws_port[:wss_port] (empty = this node's listeners).", func(v string) error {
		hs, err := ParseHosts(v)
		c.Hosts = hs
		return err
	})
}

// ParseHosts reads "host:port:ws_port[:wss_port],…".
func ParseHosts(v string) ([]Host, error) {
	var out []Host
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		p := strings.Split(item, ":")
		if len(p) < 3 || len(p) > 4 || p[0] == "" {
			return nil, fmt.Errorf("host %q: want host:tcp_port:ws_port[:wss_port]", item)
		}
		h := Host{Host: p[0]}
		ports := []*int{&h.Port, &h.WSPort, &h.WSSPort}
		for i, s := range p[1:] {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("host %q: bad port %q", item, s)
			}
			*ports[i] = n
		}
		out = append(out, h)
	}
	return out, nil
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.ConnTokenTTL < 10*time.Second {
		return errors.New("logic.conn_token_ttl must be at least 10s")
	}
	if c.CometTTL < time.Second {
		return errors.New("logic.comet_ttl must be at least 1s")
	}
	if c.CountInterval < 0 {
		return errors.New("logic.count_interval must not be negative")
	}
	if c.MaxConnsPerToken < 0 {
		return errors.New("logic.max_conns_per_token must not be negative")
	}
	if c.EntryInterval < 0 {
		return errors.New("logic.entry_interval must not be negative")
	}
	if c.EntryRoomRate < 0 {
		return errors.New("logic.entry_room_rate must not be negative")
	}
	for _, h := range c.Hosts {
		if h.Host == "" || (h.Port == 0 && h.WSPort == 0 && h.WSSPort == 0) {
			return fmt.Errorf("logic.hosts: %+v needs a host and a port", h)
		}
	}
	return nil
}
