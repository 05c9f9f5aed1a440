package connlimit

import (
	"errors"
	"flag"
)

// Config is the process-wide connection budget, shared by every public listener.
type Config struct {
	// MaxTotal caps the connections the process holds on its public listeners together (the
	// gateway's HTTP port with its /sub WebSockets, the comet's TCP port, the metrics port).
	// -1 (default) derives it from the descriptor limit: RLIMIT_NOFILE minus fd_reserve, so the
	// process refuses connections before it runs out of descriptors. 0 means no cap. A positive
	// value is used as given, but never above the derived one.
	MaxTotal int `yaml:"max_total"`
	// FDReserve is how many descriptors the derived cap leaves for everything that is not a
	// client connection: store and queue files, peer and Redis connections, logs. When the
	// descriptor limit is below twice the reserve, half the limit goes to connections.
	FDReserve int `yaml:"fd_reserve"`
}

// Defaults.
const (
	DefaultMaxTotal  = -1
	DefaultFDReserve = 256
)

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.MaxTotal, prefix+"max_total", DefaultMaxTotal, "connections the process holds on all public listeners together; -1 = RLIMIT_NOFILE minus fd_reserve, 0 = no cap.")
	fs.IntVar(&c.FDReserve, prefix+"fd_reserve", DefaultFDReserve, "descriptors the derived max_total leaves for stores, queue, peers and files.")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.MaxTotal < -1 {
		return errors.New("conns.max_total must be -1 (derived), 0 (no cap) or positive")
	}
	if c.FDReserve < 0 {
		return errors.New("conns.fd_reserve must not be negative")
	}
	return nil
}

// Limit is the total cap for a process whose descriptor limit is nofile (0 = unknown): the
// derived cap for -1, the configured one otherwise, never above the derived one. 0 = no cap.
func (c Config) Limit(nofile uint64) int {
	derived := 0
	if nofile > 0 {
		n := int(min(nofile, 1<<30))
		derived = n - c.FDReserve
		if n < 2*c.FDReserve {
			derived = n / 2
		}
		derived = max(derived, 1)
	}
	switch {
	case c.MaxTotal == 0:
		return 0
	case c.MaxTotal < 0:
		return derived
	case derived > 0:
		return min(c.MaxTotal, derived)
	}
	return c.MaxTotal
}
