package job

import (
	"errors"
	"flag"
	"time"
)

// Config of the job component.
type Config struct {
	// Window is the longest a message waits to be merged with others of its room (≤ 100ms),
	// and the shortest time between two batches of one room: a message to a room that has
	// had no batch in the last window leaves at once; in a busier room it waits until Window
	// has passed since the room's last batch (see merge.go).
	Window time.Duration `yaml:"window"`
	// Burst is how many batches a quiet room may send inside one window before its messages
	// wait for the window (1 = strictly one per window). Spares come back when a window
	// closes with nothing waiting, so a busy room still gets one batch per window.
	Burst int `yaml:"burst"`
	// MaxBatch sends a room's batch before its window closes once it holds this many
	// messages; a larger batch is handed to the comets in parts of this size.
	MaxBatch int `yaml:"max_batch"`
	// PushTimeout bounds one batch to one comet; a slower comet is skipped for that batch.
	PushTimeout time.Duration `yaml:"push_timeout"`
	// Durable is the consumer name; every job process with the same name shares the work.
	Durable string `yaml:"durable"`
	// MaxPending caps unacknowledged messages in flight (memory bound of the merge buffers).
	MaxPending int `yaml:"max_pending"`
	// CometQueue is how many batches may wait for one comet; a comet that falls further behind
	// misses batches (counted) instead of holding up the others.
	CometQueue int `yaml:"comet_queue"`
	// RouteStale is how old a comet's report may be and still say which rooms it holds (split
	// clusters, routing through presence). An older report says nothing for sure: the comet
	// then gets every room's batches until a fresh report comes, or until it is taken for
	// dead (presence.TTL after its last report).
	RouteStale time.Duration `yaml:"route_stale"`
	// CometDeadAfter: a comet whose pushes have failed for this long is declared dead; its
	// batches are then given up on (acknowledged without it) until a push succeeds again.
	// Until then a failed push is retried, and the messages wait unacknowledged.
	CometDeadAfter time.Duration `yaml:"comet_dead_after"`
	// AckWait is how long the queue waits for a message's acknowledgement before giving it
	// to a job again (a job that died holding it); more than comet_dead_after + push_timeout.
	AckWait time.Duration `yaml:"ack_wait"`
}

// RegisterFlags binds the config to flags under prefix.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Window, prefix+"window", 50*time.Millisecond, "merge window: a busy room gets one batch per window; a message to a room with no batch in the last window leaves at once (at most 100ms).")
	fs.IntVar(&c.Burst, prefix+"burst", 2, "batches a quiet room may send inside one window before its messages wait for the window (1 = one per window).")
	fs.IntVar(&c.MaxBatch, prefix+"max_batch", 200, "send a room's batch before its window closes at this many messages.")
	fs.DurationVar(&c.PushTimeout, prefix+"push_timeout", time.Second, "time limit of one batch to one comet.")
	fs.StringVar(&c.Durable, prefix+"durable", "job", "durable consumer name shared by all job processes.")
	fs.IntVar(&c.MaxPending, prefix+"max_pending", 20000, "unacknowledged push messages in flight.")
	fs.IntVar(&c.CometQueue, prefix+"comet_queue", 1024, "batches that may wait for one comet before it misses some.")
	fs.DurationVar(&c.CometDeadAfter, prefix+"comet_dead_after", 5*time.Second, "a comet failing pushes this long is declared dead: its batches are given up on until it answers again.")
	fs.DurationVar(&c.AckWait, prefix+"ack_wait", 30*time.Second, "a message not acknowledged this long (its job died) goes to a job again (> comet_dead_after + push_timeout).")
	fs.DurationVar(&c.RouteStale, prefix+"route_stale", 5*time.Second, "a comet report older than this no longer limits which rooms' batches the comet gets: it gets all (several comet.report_interval).")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Window <= 0 || c.Window > 100*time.Millisecond {
		return errors.New("job.window must be in (0, 100ms]")
	}
	if c.Burst < 1 || c.Burst > 16 {
		return errors.New("job.burst must be in 1..16")
	}
	if c.MaxBatch < 1 || c.MaxBatch > 4096 {
		return errors.New("job.max_batch must be in 1..4096")
	}
	if c.PushTimeout <= 0 {
		return errors.New("job.push_timeout must be positive")
	}
	if c.Durable == "" {
		return errors.New("job.durable must not be empty")
	}
	if c.CometQueue < 1 {
		return errors.New("job.comet_queue must be at least 1")
	}
	if c.CometDeadAfter < 0 {
		return errors.New("job.comet_dead_after must not be negative")
	}
	if c.AckWait <= c.CometDeadAfter+c.PushTimeout {
		return errors.New("job.ack_wait must be more than job.comet_dead_after + job.push_timeout")
	}
	if c.RouteStale <= 0 {
		return errors.New("job.route_stale must be positive")
	}
	if c.MaxPending < c.MaxBatch {
		return errors.New("job.max_pending must be at least job.max_batch")
	}
	return nil
}
