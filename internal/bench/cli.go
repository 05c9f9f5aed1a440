package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// ErrLoss is returned by Main when the run lost messages or connections, so the command
// exits non-zero in CI.
var ErrLoss = errors.New("bench: messages or connections were lost")

const usage = `Usage: zhibo bench fanout [flags]
       zhibo bench hot read [flags]     (see zhibo bench hot read -h)
       zhibo bench hot gifts [flags]    (see zhibo bench hot gifts -h)
       zhibo bench media [flags]        (see zhibo bench media -h)
       zhibo bench proxy [flags]        (see zhibo bench proxy -h)
       zhibo bench im [flags]           (see zhibo bench im -h)

Opens -conns viewer connections to -rooms live rooms of a zhibo running on this machine,
sends -rate comments per second for -duration, and reports connections, delivered
messages/s, loss (sequence-checked on -sample connections) and send-to-receive latency.
Start the server with -gateway.rate_per_ip 0 -account.limits.register_per_ip_hour 0 (and -danmaku.rate 0 to use few senders).

Flags:
`

// Main runs "zhibo bench <args>": the table goes to stdout, progress to stderr.
func Main(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "hot" {
		return hotMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "media" {
		return mediaMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "proxy" {
		return proxyMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "im" {
		return imMain(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "fanout" {
		fmt.Fprint(stderr, usage)
		return errors.New(`bench needs a sub-command: fanout, hot read, hot gifts, media, proxy or im`)
	}
	fs := flag.NewFlagSet("zhibo bench fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var cfg Config
	cfg.RegisterFlags(fs, "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	deps := Deps{Logger: slog.New(slog.NewTextHandler(stderr, nil)), Progress: stderr}
	if f, ok := stderr.(*os.File); ok {
		deps.Terminal = isTerminal(f)
	}
	f, err := New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := f.Run(ctx)
	if rep == nil {
		return err
	}
	if werr := rep.Write(stdout); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if rep.Lost() > 0 || rep.Conns.Established < int64(cfg.Conns) || rep.Conns.Dropped > 0 {
		return ErrLoss
	}
	return nil
}

// Write prints the table to stdout and writes the files Config.JSON and Config.HTML name.
func (rep *Report) Write(stdout io.Writer) error {
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write(rep.Config.JSON, rep.WriteJSON); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	if err := write(rep.Config.HTML, rep.WriteHTML); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}
