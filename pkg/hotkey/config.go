package hotkey

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config sizes a Detector and chooses its window. DefaultConfig holds the values the package was
// measured with (see README.md); a zero field falls back to that default unless its comment says
// what zero means instead.
type Config struct {
	// K is how many keys are reported hot. 0 = 100.
	K int `yaml:"k"`
	// Width is the number of buckets per sketch row (rounded up to a multiple of the shard count).
	// 0 = 4096. Each bucket is 8 bytes, so the sketch holds Width×Depth×8 bytes.
	Width int `yaml:"width"`
	// Depth is the number of sketch rows. 0 = 2.
	Depth int `yaml:"depth"`
	// Decay is HeavyKeeper's base b: a colliding key decrements a bucket holding count c with
	// probability b^-c. 0 = 1.5.
	Decay float64 `yaml:"decay"`
	// Window is the wall-time window: every Window/Slots all counts are halved. 0 = no time window.
	Window time.Duration `yaml:"window"`
	// WindowEvents is the event window: every WindowEvents/Slots added events all counts are halved,
	// whichever of the two comes first. 0 = no event window (and with Window 0, counts never fade).
	WindowEvents uint64 `yaml:"window_events"`
	// Slots is how many halvings one window holds: traffic one window old weighs 2^-Slots. 0 = 4.
	Slots int `yaml:"slots"`
	// MinCount is the smallest (decayed) count a key needs to be hot. 0 = 1.
	MinCount uint64 `yaml:"min_count"`
	// ReportInterval is how often buffered adds are merged when traffic is low, the time window is
	// checked, IsHot's snapshot is refreshed and OnChange callbacks run. 0 = 100ms.
	ReportInterval time.Duration `yaml:"report_interval"`
	// Allow, when not empty, restricts the keys that may become hot to those matching one of its
	// patterns (an exact key, or a prefix ending in "*"). Empty = every key is eligible.
	Allow []string `yaml:"allow"`
	// Deny lists patterns of keys that are never reported hot by detection; it wins over Allow.
	// Pin still marks a denied key hot, since pinning is an explicit decision.
	Deny []string `yaml:"deny"`
	// Namespace prefixes metric names: "<namespace>_hotkey_hot_keys". "" = "hotkey_hot_keys".
	Namespace string `yaml:"namespace"`
	// Name is the value of the const label "detector" on every metric, so detectors can share one
	// registry (each of them named: Prometheus wants the same label names on one metric).
	// "" = no label.
	Name string `yaml:"name"`
	// Seed keys the hash that places keys in buckets. 0 = random per detector, so bucket
	// collisions cannot be precomputed by whoever picks the keys; set it for reproducible runs.
	Seed uint64 `yaml:"seed"`
	// Registerer receives the metrics. nil = no metrics.
	Registerer prometheus.Registerer `yaml:"-"`
}

// DefaultConfig is a detector of the top 100 keys in 64 KiB of sketch whose counts halve every
// 12 k events or every second, whichever comes first.
func DefaultConfig() Config {
	return Config{
		K:              100,
		Width:          4096,
		Depth:          2,
		Decay:          1.5,
		Window:         4 * time.Second,
		WindowEvents:   48_000,
		Slots:          4,
		MinCount:       1,
		ReportInterval: 100 * time.Millisecond,
	}
}

// RegisterFlags binds every field to a flag named prefix+yaml name, defaulted from DefaultConfig.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	d := DefaultConfig()
	fs.IntVar(&c.K, prefix+"k", d.K, "number of keys reported hot (0 = 100)")
	fs.IntVar(&c.Width, prefix+"width", d.Width, "sketch buckets per row, 8 bytes each (0 = 4096)")
	fs.IntVar(&c.Depth, prefix+"depth", d.Depth, "sketch rows (0 = 2)")
	fs.Float64Var(&c.Decay, prefix+"decay", d.Decay, "HeavyKeeper decay base b in (1, 2] (0 = 1.5)")
	fs.DurationVar(&c.Window, prefix+"window", d.Window, "wall-time window; counts halve every window/slots (0 = no time window)")
	fs.Uint64Var(&c.WindowEvents, prefix+"window_events", d.WindowEvents, "event window; counts halve every window_events/slots events (0 = no event window)")
	fs.IntVar(&c.Slots, prefix+"slots", d.Slots, "halvings per window (0 = 4)")
	fs.Uint64Var(&c.MinCount, prefix+"min_count", d.MinCount, "smallest decayed count of a hot key (0 = 1)")
	fs.DurationVar(&c.ReportInterval, prefix+"report_interval", d.ReportInterval, "how often buffers merge, the hot set refreshes and callbacks run (0 = 100ms)")
	fs.Func(prefix+"allow", "comma-separated keys or prefix* patterns that may become hot (empty = all)", func(s string) error {
		c.Allow = splitList(s)
		return nil
	})
	fs.Func(prefix+"deny", "comma-separated keys or prefix* patterns never reported hot", func(s string) error {
		c.Deny = splitList(s)
		return nil
	})
	fs.StringVar(&c.Namespace, prefix+"namespace", d.Namespace, "metric name prefix (empty = metrics start with hotkey_)")
	fs.StringVar(&c.Name, prefix+"name", d.Name, "value of the detector label on metrics (empty = no label)")
	fs.Uint64Var(&c.Seed, prefix+"seed", d.Seed, "hash seed (0 = random per detector)")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate reports fields out of range. Zero values are valid: they mean the default.
func (c *Config) Validate() error {
	var errs []error
	if c.K < 0 || c.K > 1<<16 {
		errs = append(errs, fmt.Errorf("hotkey: k %d out of range 0..65536", c.K))
	}
	if c.Width < 0 || c.Width > 1<<24 {
		errs = append(errs, fmt.Errorf("hotkey: width %d out of range 0..%d", c.Width, 1<<24))
	}
	if c.Depth < 0 || c.Depth > 8 {
		errs = append(errs, fmt.Errorf("hotkey: depth %d out of range 0..8", c.Depth))
	}
	if c.Decay != 0 && (c.Decay <= 1 || c.Decay > 2) {
		errs = append(errs, fmt.Errorf("hotkey: decay %v must be in (1, 2]", c.Decay))
	}
	if c.Window < 0 || c.ReportInterval < 0 {
		errs = append(errs, errors.New("hotkey: window and report_interval must not be negative"))
	}
	if c.Slots < 0 || c.Slots > 64 {
		errs = append(errs, fmt.Errorf("hotkey: slots %d out of range 0..64", c.Slots))
	}
	for _, p := range append(append([]string(nil), c.Allow...), c.Deny...) {
		if p == "" || p == "*" {
			errs = append(errs, fmt.Errorf("hotkey: pattern %q matches everything or nothing", p))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field that has a default filled in.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.K == 0 {
		c.K = d.K
	}
	if c.Width == 0 {
		c.Width = d.Width
	}
	if c.Depth == 0 {
		c.Depth = d.Depth
	}
	if c.Decay == 0 {
		c.Decay = d.Decay
	}
	if c.Slots == 0 {
		c.Slots = d.Slots
	}
	if c.MinCount == 0 {
		c.MinCount = 1
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = d.ReportInterval
	}
	return c
}
