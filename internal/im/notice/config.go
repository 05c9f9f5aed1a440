package notice

import (
	"errors"
	"flag"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
)

// Config tunes notices and batch sends.
type Config struct {
	// Store is where this component keeps its tables (see sqlstore.Own).
	Store sqlstore.Own `yaml:"store"`
	// NormalRate is the quota of the normal lane: recipients per second each business may
	// reach (the high lane has none).
	NormalRate int `yaml:"normal_rate"`
	// Chunk is how many recipients are delivered in one transaction and one push (100..10000).
	Chunk int `yaml:"chunk"`
}

// RegisterFlags binds every field to a flag named prefix+yaml_name, with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Store.RegisterFlags(fs, prefix+"store.")
	fs.IntVar(&c.NormalRate, prefix+"normal_rate", 50000, "recipients per second each business's batch sends reach on the normal lane (the high lane has no quota), at least 100.")
	fs.IntVar(&c.Chunk, prefix+"chunk", 1000, "recipients delivered in one transaction and one push, 100..10000.")
}

// DefaultConfig is the configuration the flags default to.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("im_notice", flag.ContinueOnError), "")
	return c
}

// Validate checks every field and names the offending one.
func (c *Config) Validate() error {
	var errs []error
	if c.NormalRate < 100 {
		errs = append(errs, fmt.Errorf("im_notice.normal_rate %d: want at least 100", c.NormalRate))
	}
	if c.Chunk < 100 || c.Chunk > 10000 {
		errs = append(errs, fmt.Errorf("im_notice.chunk %d: want 100..10000", c.Chunk))
	}
	return errors.Join(errs...)
}
