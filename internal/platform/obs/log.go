// Package obs holds the observability plumbing shared by components: the slog logger that
// stamps every line with the request's trace id, and OpenTelemetry tracing (trace.go).
package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/term"
)

// LogConfig selects the log format and level.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json, text, or auto (text on a terminal, JSON otherwise)
}

// Validate checks the level and the format.
func (c *LogConfig) Validate() error {
	var errs []error
	if _, err := parseLevel(c.Level); err != nil {
		errs = append(errs, err)
	}
	switch strings.ToLower(c.Format) {
	case "json", "", "text", "auto":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want json, text or auto", c.Format))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level %q: want debug, info, warn or error", s)
	}
	return lvl, nil
}

// NewLogger builds the root logger. Lines carry the trace id of the context they are logged
// with. Its level can change later with SetLevel; the format cannot.
func NewLogger(w io.Writer, cfg LogConfig) (*slog.Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	level := new(slog.LevelVar)
	lvl, _ := parseLevel(cfg.Level)
	level.Set(lvl)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if f := strings.ToLower(cfg.Format); f == "text" || (f == "auto" && isTerminal(w)) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(traceHandler{h, level}), nil
}

// SetLevel changes the level of log, a logger NewLogger built (or one derived from it with
// With or WithGroup), and of every logger sharing its root.
func SetLevel(log *slog.Logger, level string) error {
	h, ok := log.Handler().(traceHandler)
	if !ok {
		return errors.New("log level: this logger was not built by obs.NewLogger and cannot change its level")
	}
	lvl, err := parseLevel(level)
	if err != nil {
		return err
	}
	h.level.Set(lvl)
	return nil
}

// traceHandler adds trace_id (and span_id) from the context to every record; level is the
// root's level, shared by every handler derived from it.
type traceHandler struct {
	slog.Handler
	level *slog.LevelVar
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(a), h.level}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name), h.level}
}

// Discard is a logger that writes nothing, for tests and tools.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// isTerminal reports whether w is a terminal (a person reading, not a log collector).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
