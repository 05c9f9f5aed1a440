package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

const usage = `zhibo — live-streaming backend

Usage:
  zhibo up [flags]                         run every component in one process (embedded storage);
                                           a demo: new wallets get 1000 coins unless -gift.initial_balance says otherwise
  zhibo serve --components=a,b [flags]     run the named components
  zhibo components                         list the components
  zhibo config check|print|doc [flags]     validate, print the effective config, or document every setting;
                                           check --components=a,b also checks those components can run on it
  zhibo config reload -url URL -token T    make a running node re-read its config (see zhibo config reload -h)
  zhibo admin create NAME [-config FILE]   register an operator on a running node and add it to admins (see -h)
  zhibo backup -out DIR [flags]            copy a running node's SQLite stores and signing key (see -h)
  zhibo migrate status|up [flags]          show / apply the schema migrations of each store (see zhibo migrate -h)
  zhibo bench fanout [flags]               load-test a zhibo on this machine (see zhibo bench fanout -h)
  zhibo bench hot read|gifts [flags]       hot-key read storm / gift storm on one anchor (see -h)
  zhibo version                            version, VCS revision and Go version (also --version)

Flags are the settings printed by "zhibo config doc"; each also reads ZHIBO_<NAME> from the
environment, and -config FILE (or ZHIBO_CONFIG) loads a YAML file first.
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "up":
		err = serve(args[1:], stdout, stderr, false)
	case "serve":
		err = serve(args[1:], stdout, stderr, true)
	case "components":
		printComponents(stdout)
	case "config":
		err = configCmd(args[1:], stdout, stderr)
	case "bench":
		err = bench.Main(args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(args[1:], stdout, stderr)
	case "backup":
		err = backupCmd(args[1:], stdout, stderr)
	case "admin":
		err = adminCmd(args[1:], os.Stdin, stdout, stderr)
	case "version", "-version", "--version":
		printVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "zhibo:", err)
		return 1
	}
	return 0
}

func configCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("config needs a sub-command: check, print, doc or reload")
	}
	switch args[0] {
	case "doc":
		config.Doc(stdout)
		return nil
	case "reload":
		return reloadCmd(args[1:], os.Getenv, stdout, stderr)
	}
	// --components (check only): also check that these components can run on this config in
	// one process, as `zhibo serve --components` would, so a serve command line can be checked
	// by swapping "serve" for "config check".
	var list string
	cfg, rest, err := config.Load("zhibo config "+args[0], args[1:], os.Getenv, stderr, func(fs *flag.FlagSet) {
		if args[0] == "check" {
			fs.StringVar(&list, "components", "", "also check that these components (comma-separated) can run together on this config, as zhibo serve would.")
		}
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	verr := cfg.Validate()
	if verr == nil && list != "" {
		_, verr = Plan(cfg, splitList(list))
	}
	switch args[0] {
	case "check":
		if verr != nil {
			return fmt.Errorf("config invalid:\n%w", verr)
		}
		fmt.Fprintln(stdout, "config ok")
	case "print":
		b, err := cfg.YAML()
		if err != nil {
			return err
		}
		_, _ = stdout.Write(b)
		if verr != nil {
			return fmt.Errorf("config invalid:\n%w", verr)
		}
	default:
		return fmt.Errorf("unknown config sub-command %q (want check, print, doc or reload)", args[0])
	}
	return nil
}

// loadServe reads the config of `zhibo up` (pick false: every component, demo defaults) or
// `zhibo serve` (pick true: the components of --components) and returns it with the
// component list.
func loadServe(args []string, getenv func(string) string, stderr io.Writer, pick bool) (config.Config, []string, error) {
	components := AllNames()
	var list string
	cfg, rest, err := config.Load("zhibo", args, getenv, stderr, func(fs *flag.FlagSet) {
		if pick {
			fs.StringVar(&list, "components", "", "comma-separated components to run (see zhibo components).")
		} else {
			demoDefaults(fs)
		}
	})
	if err != nil {
		return cfg, nil, err
	}
	if len(rest) > 0 {
		return cfg, nil, fmt.Errorf("unexpected arguments %q", rest)
	}
	if pick {
		components = splitList(list)
	}
	return cfg, components, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(list string) []string {
	var out []string
	for _, c := range strings.Split(list, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// demoDefaults are the defaults `zhibo up` changes, before the file, the environment and the
// flags are read (each still overrides them): the all-in-one demo hands every new wallet
// gift.DemoInitialBalance coins so gifts work at once. `zhibo serve` keeps the safe defaults.
func demoDefaults(fs *flag.FlagSet) {
	f := fs.Lookup("gift.initial_balance")
	f.DefValue = strconv.Itoa(gift.DemoInitialBalance)
	if err := f.Value.Set(f.DefValue); err != nil {
		panic(err) // a constant that does not parse as the flag's type is a programming error
	}
}

func serve(args []string, stdout, stderr io.Writer, pick bool) error {
	cfg, components, err := loadServe(args, os.Getenv, stderr, pick)
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	stopTracing, err := obs.SetupTracing(context.Background(), cfg.Trace, "zhibo",
		attribute.StringSlice("zhibo.components", components), attribute.String("service.version", Version))
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("trace export at exit failed", "err", err)
		}
	}()
	a, err := New(cfg, components, log)
	if err != nil {
		return err
	}
	a.ReloadFrom(func() (config.Config, error) { // the same sources, read again (reload.go)
		cfg, _, err := loadServe(args, os.Getenv, io.Discard, pick)
		return cfg, err
	})
	if a.ownsDataDir() {
		privateUmask() // whatever a library creates in the data dir later is owner-only too
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := a.Start(ctx); err != nil {
		return err
	}
	stopWatch := a.WatchConfig(ctx, configPoll)
	if addr := a.HTTPAddr(); addr != nil {
		url := displayURL(addr)
		if cfg.Gateway.TLSCertFile != "" {
			url = strings.Replace(url, "http", "https", 1)
		}
		fmt.Fprintf(stdout, "zhibo is up: %s  (WebSocket %s/sub", url, strings.Replace(url, "http", "ws", 1))
		if t := a.TCPAddr(); t != nil {
			fmt.Fprintf(stdout, ", raw TCP %s", t)
		}
		if r := a.RTMPAddr(); r != nil {
			fmt.Fprintf(stdout, ", RTMP %s/live", strings.Replace(displayURL(r), "http", "rtmp", 1))
		}
		if a.Gateway != nil && a.Gateway.MetricsAddr() != nil {
			fmt.Fprintf(stdout, ", metrics and pprof %s", displayURL(a.Gateway.MetricsAddr()))
		}
		fmt.Fprintln(stdout, ")")
	}
	<-ctx.Done()
	stopWatch()
	log.Info("shutting down: stop accepting, drain, flush, close")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// displayURL turns a listen address into a URL a browser on this machine can open.
func displayURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// printComponents lists each component with what it uses: a peer marked "?" is optional, and
// every peer runs in the same process or in another one named in peers.
func printComponents(w io.Writer) {
	for _, c := range Components() {
		var uses []string
		for _, u := range c.Uses {
			if slices.Contains(c.Optional, u) {
				u += "?"
			}
			uses = append(uses, u)
		}
		if len(uses) == 0 {
			uses = []string{"-"}
		}
		var owns []string
		if c.Store {
			owns = append(owns, "store")
		}
		if c.Queue {
			owns = append(owns, "queue")
		}
		if len(owns) == 0 {
			owns = []string{"-"}
		}
		fmt.Fprintf(w, "%-8s  uses %-25s  needs %-12s  %s\n", c.Name, strings.Join(uses, ","), strings.Join(owns, ","), c.About)
	}
	fmt.Fprintln(w, "\nA used component runs in the same process or in another one named with -peers.<name>; ? = optional.")
}
