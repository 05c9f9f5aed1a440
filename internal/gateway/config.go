package gateway

import (
	"errors"
	"flag"
	"time"
)

// Config of the gateway, the only public HTTP entry.
type Config struct {
	// HTTPAddr is where the API, the web UI and the WebSocket endpoint /sub listen.
	HTTPAddr string `yaml:"http_addr"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// RequestTimeout bounds one API request (not WebSocket connections).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests on stop.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// RatePerIP is the sustained API requests per second one client IP may make (0 = no limit).
	RatePerIP float64 `yaml:"rate_per_ip"`
	// BurstPerIP is how many requests above the rate one IP may make at once.
	BurstPerIP int `yaml:"burst_per_ip"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.HTTPAddr, prefix+"http_addr", ":8080", "listen address of the API, web UI and /sub WebSocket.")
	fs.DurationVar(&c.ReadHeaderTimeout, prefix+"read_header_timeout", 5*time.Second, "time a client has to send request headers.")
	fs.DurationVar(&c.RequestTimeout, prefix+"request_timeout", 10*time.Second, "time limit of one API request.")
	fs.DurationVar(&c.ShutdownTimeout, prefix+"shutdown_timeout", 10*time.Second, "graceful drain of in-flight requests on stop.")
	fs.Float64Var(&c.RatePerIP, prefix+"rate_per_ip", 50, "API requests per second per client IP (0 = no limit).")
	fs.IntVar(&c.BurstPerIP, prefix+"burst_per_ip", 100, "burst of API requests per client IP above the rate.")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.HTTPAddr == "" {
		return errors.New("gateway.http_addr must not be empty")
	}
	if c.ReadHeaderTimeout <= 0 || c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0 {
		return errors.New("gateway timeouts must be positive")
	}
	if c.RatePerIP < 0 || (c.RatePerIP > 0 && c.BurstPerIP < 1) {
		return errors.New("gateway.rate_per_ip must be >= 0 and burst_per_ip >= 1 when limiting")
	}
	return nil
}
