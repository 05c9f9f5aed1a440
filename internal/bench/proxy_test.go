package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/app"
	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// inProcessStarters runs the upstream and the gateway in the test's process (a test binary
// cannot re-exec itself as zhibo): the upstream on a net/http server, the gateway through
// internal/app from the very flags the command gives `zhibo serve`.
func inProcessStarters(t testing.TB) bench.ProxyStarters {
	return bench.ProxyStarters{
		Upstream: func(ctx context.Context) (*bench.ProxyProc, error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			srv := &http.Server{Handler: bench.ProxyUpstream(), ReadHeaderTimeout: 5 * time.Second}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			return &bench.ProxyProc{Addr: ln.Addr().String(), Stop: func() error {
				_ = srv.Close()
				if err := <-done; !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}}, nil
		},
		Gateway: func(ctx context.Context, components, flags []string) (*bench.ProxyProc, error) {
			// As zhibo serve does: the config re-read from the same flags (and file) on a change.
			load := func() (config.Config, error) {
				cfg, rest, err := config.Load("zhibo", flags, func(string) string { return "" }, io.Discard, nil)
				if err == nil && len(rest) > 0 {
					err = fmt.Errorf("unexpected arguments %q", rest)
				}
				return cfg, err
			}
			cfg, err := load()
			if err != nil {
				return nil, err
			}
			a, err := app.New(cfg, components, obs.Discard())
			if err != nil {
				return nil, err
			}
			a.ReloadFrom(load)
			if err := a.Start(ctx); err != nil {
				return nil, err
			}
			wctx, cancel := context.WithCancel(context.Background())
			stopWatch := a.WatchConfig(wctx, 50*time.Millisecond)
			return &bench.ProxyProc{Addr: a.HTTPAddr().String(), Stop: func() error {
				stopWatch()
				cancel()
				return a.Stop(context.Background())
			}}, nil
		},
	}
}

// A short proxy run: every phase of every target serves requests with no error (so the
// gateway's auth and per-user limit accept every request with the token), the gateway
// refuses the route without a token, the open loop holds its rate, and the reports are
// written and parse. nginx is measured when installed (CI installs it) and marked absent
// otherwise.
func TestBenchProxySmoke(t *testing.T) {
	cfg := bench.DefaultProxyConfig()
	cfg.Conns = 4
	cfg.Duration = time.Second
	cfg.Rounds = 1
	cfg.ReloadEvery = 200 * time.Millisecond
	withNginx := true
	if _, err := os.Stat(cfg.Nginx); err != nil {
		t.Logf("nginx is not installed (%v): its phases are skipped", err)
		withNginx = false
	}
	dir := t.TempDir()
	cfg.JSON = filepath.Join(dir, "proxy.json")
	cfg.HTML = filepath.Join(dir, "proxy.html")
	var progress bytes.Buffer
	p, err := bench.NewProxy(cfg, bench.Deps{Progress: &progress}, inProcessStarters(t))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := p.Run(ctx)
	require.NoError(t, err, progress.String())
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.Equal(t, http.StatusUnauthorized, rep.GatewayWithoutToken, "the route needs a user's token")
	require.Zero(t, rep.Errors, "no phase had an error, so the per-user limit never refused")
	// The gateway with its fast lane off is measured beside it (-full, on by default).
	targets := []string{bench.TargetDirect, bench.TargetGateway, bench.TargetGatewayFull}
	require.Positive(t, rep.GatewayVsFull)
	if withNginx {
		targets = []string{bench.TargetDirect, bench.TargetNginx, bench.TargetGateway, bench.TargetGatewayFull}
		require.NotEmpty(t, rep.NginxVersion)
		require.Positive(t, rep.GatewayVsNginx)
		require.Equal(t, bench.TargetNginx, rep.LatencyBase)
	} else {
		require.NotEmpty(t, rep.NginxAbsent)
		require.Equal(t, bench.TargetGateway, rep.LatencyBase)
	}
	require.Len(t, rep.Phases, len(targets))
	require.Len(t, rep.Latency, len(targets))
	for i, ph := range rep.Phases {
		require.Equal(t, targets[i], ph.Target)
		require.Equal(t, 1, ph.Round)
		require.Positive(t, ph.Requests, ph.Target)
		require.Zero(t, ph.Errors, ph.FirstError)
		require.Equal(t, uint64(ph.Requests), ph.Latency.Count)
		require.Positive(t, ph.Latency.P50MS)
		require.LessOrEqual(t, ph.Latency.P99MS, ph.Latency.MaxMS)
		require.Equal(t, ph, rep.Best[ph.Target], "one round: its phase is the best")
	}
	// The reload phase: the route table was rewritten under load, the gateway applied the new
	// tables (at 200 ms over a second, at least two) and no request failed.
	require.NotNil(t, rep.Reload)
	require.Equal(t, bench.TargetGateway, rep.Reload.Target)
	require.Positive(t, rep.Reload.Requests)
	require.Zero(t, rep.Reload.Errors, rep.Reload.FirstError)
	require.GreaterOrEqual(t, rep.Reloads, 2.0)

	rate := rep.Latency[0].TargetRPS
	require.InDelta(t, cfg.LatencyLoad*rep.Best[rep.LatencyBase].RPS, rate, 1e-6)
	for i, ph := range rep.Latency {
		require.Equal(t, targets[i], ph.Target)
		require.Zero(t, ph.Round)
		require.Equal(t, rate, ph.TargetRPS)
		require.Positive(t, ph.Requests, ph.Target)
		require.Zero(t, ph.Errors, ph.FirstError)
		require.LessOrEqual(t, ph.RPS, 1.1*rate, "an open loop sends no faster than its rate")
	}

	raw, err := os.ReadFile(cfg.JSON)
	require.NoError(t, err)
	var parsed bench.ProxyReport
	require.NoError(t, json.Unmarshal(raw, &parsed))
	require.Equal(t, rep.Phases, parsed.Phases)
	page, err := os.ReadFile(cfg.HTML)
	require.NoError(t, err)
	require.Contains(t, string(page), "<svg")
	require.NotContains(t, string(page), "<script")
}
