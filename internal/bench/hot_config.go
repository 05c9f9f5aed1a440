package bench

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// maxWorkers bounds the concurrent requests of the hot-key benches.
const maxWorkers = 10_000

// ReadStormConfig is one `zhibo bench hot read` run: many readers of one room's public page,
// over a background of reads spread over many rooms by a Zipf law.
type ReadStormConfig struct {
	// URL is the platform's HTTP base; loopback hosts only.
	URL string `yaml:"url" json:"url"`
	// Rooms is how many rooms are created (one anchor each): room 0 is the hot one, the rest
	// carry the background.
	Rooms int `yaml:"rooms" json:"rooms"`
	// HotShare is the share of reads that go to the hot room; the rest go to the background.
	HotShare float64 `yaml:"hot_share" json:"hot_share"`
	// ZipfS is the exponent of the background's Zipf law (> 1; larger is more skewed).
	ZipfS float64 `yaml:"zipf_s" json:"zipf_s"`
	// Rate is reads per second in total; 0 means as fast as Concurrency allows (closed loop).
	Rate float64 `yaml:"rate" json:"rate"`
	// Concurrency is how many reads are in flight at most.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// Duration is how long reads are sent.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// Probe is how many reads of the hot room are made one by one right after the storm, with
	// nothing else running, to count exactly how many of them the hot cache served.
	Probe int `yaml:"probe" json:"probe"`
	// SetupTimeout bounds registering the anchors and creating the rooms.
	SetupTimeout time.Duration `yaml:"setup_timeout" json:"setup_timeout"`
	// PID, when positive, is the server process whose CPU use is reported.
	PID int `yaml:"pid" json:"pid"`
	// JSON is a file the report is written to; empty means none.
	JSON string `yaml:"json" json:"json"`
	// Target is what a read fetches: "room", a room's public record (GET /api/rooms/{id}), or
	// "enter", its whole page (GET /api/room/enter?id=).
	Target string `yaml:"target" json:"target"`
	// AdminToken, when set, is an admin's bearer token used to pin the hot room hot
	// (POST /api/admin/hot/rooms/{id}) for the storm, so every component serves it from memory.
	AdminToken string `yaml:"admin_token" json:"-"`
}

// Read targets of ReadStormConfig.Target.
const (
	TargetRoom  = "room"
	TargetEnter = "enter"
)

// RegisterFlags binds every field to a flag named prefix+yaml_name.
func (c *ReadStormConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.URL, prefix+"url", "http://127.0.0.1:8080", "platform HTTP base URL; loopback hosts only (127.0.0.0/8, ::1, localhost).")
	fs.IntVar(&c.Rooms, prefix+"rooms", 500, "rooms to create (one anchor user each); room 0 is hot, the others carry the Zipf background.")
	fs.Float64Var(&c.HotShare, prefix+"hot_share", 0.5, "share of reads on the hot room (0..1; 1 = no background).")
	fs.Float64Var(&c.ZipfS, prefix+"zipf_s", 1.1, "exponent of the background's Zipf law over the other rooms (> 1).")
	fs.Float64Var(&c.Rate, prefix+"rate", 0, "reads per second in total (0 = as fast as -concurrency allows).")
	fs.IntVar(&c.Concurrency, prefix+"concurrency", 32, "reads in flight at most.")
	fs.DurationVar(&c.Duration, prefix+"duration", 10*time.Second, "how long reads are sent (at most 10m).")
	fs.IntVar(&c.Probe, prefix+"probe", 200, "sequential reads of the hot room after the storm that count its cache hits exactly (0 = none).")
	fs.DurationVar(&c.SetupTimeout, prefix+"setup_timeout", 2*time.Minute, "bound on registering the anchors and creating the rooms.")
	fs.IntVar(&c.PID, prefix+"pid", 0, "server process id whose CPU use is reported (0 = not measured).")
	fs.StringVar(&c.JSON, prefix+"json", "", "write the JSON report to this file (empty = none).")
	fs.StringVar(&c.Target, prefix+"target", TargetRoom, "what a read fetches: room (GET /api/rooms/{id}) or enter (the room page, GET /api/room/enter?id=).")
	fs.StringVar(&c.AdminToken, prefix+"admin_token", "", "an admin's bearer token: pin the hot room hot for the storm through /api/admin/hot/rooms/{id} (empty = not pinned).")
}

// Validate checks every field and names the offending one.
func (c *ReadStormConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := CheckLoopbackURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.Rooms < 2 || c.Rooms > 100_000 {
		add("rooms %d: want 2..100000", c.Rooms)
	}
	if !(c.HotShare >= 0 && c.HotShare <= 1) {
		add("hot_share %v: want 0..1", c.HotShare)
	}
	if !(c.ZipfS > 1 && c.ZipfS <= 10) {
		add("zipf_s %v: want (1, 10]", c.ZipfS)
	}
	if !(c.Rate >= 0 && c.Rate <= maxRate) {
		add("rate %v: want 0..%d reads/s", c.Rate, maxRate)
	}
	if c.Concurrency < 1 || c.Concurrency > maxWorkers {
		add("concurrency %d: want 1..%d", c.Concurrency, maxWorkers)
	}
	if c.Duration < time.Second || c.Duration > maxDuration {
		add("duration %s: want 1s..%s", c.Duration, maxDuration)
	}
	if c.Probe < 0 || c.Probe > 100_000 {
		add("probe %d: want 0..100000", c.Probe)
	}
	if c.SetupTimeout < time.Second || c.SetupTimeout > maxDuration {
		add("setup_timeout %s: want 1s..%s", c.SetupTimeout, maxDuration)
	}
	if c.PID < 0 {
		add("pid %d: want >= 0", c.PID)
	}
	if c.Target != TargetRoom && c.Target != TargetEnter {
		add("target %q: want %s or %s", c.Target, TargetRoom, TargetEnter)
	}
	return errors.Join(errs...)
}

// GiftStormConfig is one `zhibo bench hot gifts` run: many senders sending gifts to one
// anchor at once.
type GiftStormConfig struct {
	// URL is the platform's HTTP base; loopback hosts only.
	URL string `yaml:"url" json:"url"`
	// Senders is how many users send gifts, each with its own wallet.
	Senders int `yaml:"senders" json:"senders"`
	// Rate is orders per second in total; 0 means as fast as the senders go (closed loop).
	Rate float64 `yaml:"rate" json:"rate"`
	// Duration is how long gifts are sent.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// GiftID and Num are what every order sends.
	GiftID int64 `yaml:"gift_id" json:"gift_id"`
	Num    int64 `yaml:"num" json:"num"`
	// Settle bounds the wait, after the last order, for the anchor's score to include every
	// acknowledged order.
	Settle time.Duration `yaml:"settle" json:"settle"`
	// SetupTimeout bounds registering the users and creating the room.
	SetupTimeout time.Duration `yaml:"setup_timeout" json:"setup_timeout"`
	// PID, when positive, is the server process whose CPU use is reported.
	PID int `yaml:"pid" json:"pid"`
	// JSON is a file the report is written to; empty means none.
	JSON string `yaml:"json" json:"json"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name.
func (c *GiftStormConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.URL, prefix+"url", "http://127.0.0.1:8080", "platform HTTP base URL; loopback hosts only (127.0.0.0/8, ::1, localhost).")
	fs.IntVar(&c.Senders, prefix+"senders", 50, "users sending gifts concurrently, one request in flight each.")
	fs.Float64Var(&c.Rate, prefix+"rate", 500, "orders per second in total (0 = as fast as the senders go).")
	fs.DurationVar(&c.Duration, prefix+"duration", 10*time.Second, "how long gifts are sent (at most 10m).")
	fs.Int64Var(&c.GiftID, prefix+"gift_id", 1, "catalog id of the gift every order sends.")
	fs.Int64Var(&c.Num, prefix+"num", 1, "num of every order.")
	fs.DurationVar(&c.Settle, prefix+"settle", 30*time.Second, "wait after the last order for the anchor's score to include every acknowledged order.")
	fs.DurationVar(&c.SetupTimeout, prefix+"setup_timeout", 2*time.Minute, "bound on registering the users and creating the room.")
	fs.IntVar(&c.PID, prefix+"pid", 0, "server process id whose CPU use is reported (0 = not measured).")
	fs.StringVar(&c.JSON, prefix+"json", "", "write the JSON report to this file (empty = none).")
}

// Validate checks every field and names the offending one.
func (c *GiftStormConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := CheckLoopbackURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.Senders < 1 || c.Senders > maxWorkers {
		add("senders %d: want 1..%d", c.Senders, maxWorkers)
	}
	if !(c.Rate >= 0 && c.Rate <= maxRate) {
		add("rate %v: want 0..%d orders/s", c.Rate, maxRate)
	}
	if c.Duration < time.Second || c.Duration > maxDuration {
		add("duration %s: want 1s..%s", c.Duration, maxDuration)
	}
	if c.GiftID < 1 {
		add("gift_id %d: want a catalog id >= 1", c.GiftID)
	}
	if c.Num < 1 {
		add("num %d: want >= 1", c.Num)
	}
	if c.Settle < time.Second || c.Settle > maxDuration {
		add("settle %s: want 1s..%s", c.Settle, maxDuration)
	}
	if c.SetupTimeout < time.Second || c.SetupTimeout > maxDuration {
		add("setup_timeout %s: want 1s..%s", c.SetupTimeout, maxDuration)
	}
	if c.PID < 0 {
		add("pid %d: want >= 0", c.PID)
	}
	return errors.Join(errs...)
}

// defaults returns the configuration a flag set registered by reg defaults to.
func defaults[C any, P interface {
	*C
	RegisterFlags(*flag.FlagSet, string)
}]() C {
	var c C
	P(&c).RegisterFlags(flag.NewFlagSet("bench", flag.ContinueOnError), "")
	return c
}

// DefaultReadStormConfig is the configuration the `hot read` flags default to.
func DefaultReadStormConfig() ReadStormConfig { return defaults[ReadStormConfig]() }

// DefaultGiftStormConfig is the configuration the `hot gifts` flags default to.
func DefaultGiftStormConfig() GiftStormConfig { return defaults[GiftStormConfig]() }
