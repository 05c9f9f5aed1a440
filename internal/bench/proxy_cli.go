package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const proxyUsage = `Usage: zhibo bench proxy [flags]

zhibo's gateway against nginx, proxying the same tiny upstream in the same run, on this
machine (loopback only). The bench starts three servers and stops them at the end: the
upstream (this binary in a hidden mode, a minimal Go HTTP server answering GET /bench/ with
~100 bytes of JSON), nginx (-nginx, a generated config: worker_processes auto, upstream
keepalive 64, HTTP/1.1 to the upstream, no access log) and zhibo serve
--components=gateway,account with a route GET /bench/ to the upstream that needs a user's
token (auth user) and a per-user rate limit far above the load, so both are paid on every
request and never refuse. It registers one user and sends the same request, with its
bearer token, to the upstream directly, through nginx and through the gateway.

Closed-loop phases (-conns keep-alive connections, each sends its next request when the
answer is in) alternate direct, nginx, gateway for -rounds rounds of -duration each and
give requests/s, latency and each server's CPU (req/s per core). Then open-loop phases at
-latency_load of nginx's best req/s measure p50/p99/p99.9 on each target; "added p99" is
the gateway's p99 less the direct one. Any answer other than 200 is an error and the
command exits 1. Without nginx (-nginx missing) the bench runs without it and says so.

Flags:
`

// proxyMain runs "zhibo bench proxy <flags>".
func proxyMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zhibo bench proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, proxyUsage); fs.PrintDefaults() }
	cfg := DefaultProxyConfig()
	cfg.RegisterFlags(fs, "")
	var upstreamOnly string
	fs.StringVar(&upstreamOnly, "upstream_only", "", "internal: run only the tiny upstream on this address (the bench starts itself so).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if upstreamOnly != "" {
		if err := CheckLoopbackURL("http://" + upstreamOnly); err != nil {
			return err
		}
		return serveUpstream(ctx, upstreamOnly, stdout)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to start the upstream and the gateway: %w", err)
	}
	logDir, err := os.MkdirTemp("", "zhibo-bench-proxy-logs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logDir)
	deps := Deps{Logger: slog.New(slog.NewTextHandler(stderr, nil)), Progress: stderr}
	if f, ok := stderr.(*os.File); ok {
		deps.Terminal = isTerminal(f)
	}
	p, err := NewProxy(cfg, deps, childStarters(exe, logDir))
	if err != nil {
		return err
	}
	rep, err := p.Run(ctx)
	if rep != nil {
		if werr := rep.Write(stdout); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if rep.Errors > 0 {
		return ErrLoss
	}
	return nil
}
