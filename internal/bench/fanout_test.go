package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/app"
	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// startAllInOne runs every component in this process on random loopback ports, as the
// end-to-end tests do, and returns the HTTP base URL.
func startAllInOne(t *testing.T) string { return startNode(t, nil) }

// startNode is startAllInOne with the configuration changed by mutate first (when not nil).
func startNode(t *testing.T, mutate func(*config.Config)) string {
	a, _ := startApp(t, mutate)
	return "http://" + a.HTTPAddr().String()
}

// startApp is startNode's node and the configuration it runs.
func startApp(t *testing.T, mutate func(*config.Config)) (*app.App, config.Config) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Gateway.RatePerIP = 0
	cfg.Gateway.MaxConnsPerIP = 0 // hundreds of viewers from 127.0.0.1, as docs/bench.md runs it
	cfg.Comet.MaxConnsPerIP = 0
	cfg.Comet.TCPAddr = "127.0.0.1:0"
	cfg.Media.RTMPAddr = "127.0.0.1:0"
	cfg.Comet.ReportInterval = 100 * time.Millisecond
	cfg.Logic.CountInterval = 200 * time.Millisecond
	cfg.Account.BcryptCost = 4
	cfg.Account.Limits.RegisterPerIPHour = 0 // every bench user registers from 127.0.0.1
	cfg.Job.Window = 20 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := app.New(cfg, app.AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	return a, cfg
}

// startNodeWithOperator is startNode with an operator registered and then named in admins
// (the configuration reloaded, as an operator would do it); it returns the HTTP base URL and
// the operator's token.
func startNodeWithOperator(t *testing.T, mutate func(*config.Config)) (url, token string) {
	a, cfg := startApp(t, mutate)
	ctx := context.Background()
	op, err := a.Account.SignUp(ctx, "bench_operator", "password1")
	require.NoError(t, err)
	admin := cfg
	admin.Admins = []int64{op.UID}
	a.ReloadFrom(func() (config.Config, error) { return admin, nil })
	_, err = a.Reload(ctx, "test")
	require.NoError(t, err)
	return "http://" + a.HTTPAddr().String(), op.Token
}

// A short bounded run against a real node: every connection is established, nothing is
// lost on the sample, every open connection receives every acknowledged comment, and the
// reports are written and parse.
func TestFanoutAllInOne(t *testing.T) {
	url := startAllInOne(t)
	dir := t.TempDir()
	cfg := bench.DefaultConfig()
	cfg.URL = url
	cfg.Conns = 500
	cfg.Rooms = 2
	cfg.Rate = 20
	cfg.Duration = 4 * time.Second
	cfg.Drain = 10 * time.Second // an upper bound: the run ends as soon as everything arrived
	cfg.WSRatio = 0.5
	cfg.Sample = 50
	cfg.Sources = 2
	cfg.Heartbeat = time.Second
	cfg.PID = os.Getpid()
	cfg.JSON = filepath.Join(dir, "report.json")
	cfg.HTML = filepath.Join(dir, "report.html")
	var progress bytes.Buffer
	f, err := bench.New(cfg, bench.Deps{Progress: &progress})
	require.NoError(t, err)
	var out bytes.Buffer
	rep, err := f.Run(context.Background())
	require.NoError(t, err)
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.Equal(t, int64(500), rep.Conns.Established, rep.Conns.FirstError)
	require.Zero(t, rep.Conns.Dropped, rep.Conns.DropError)
	require.Equal(t, 250, rep.Conns.WebSocket)
	require.Zero(t, rep.SendErrors, rep.FirstSendError)
	require.Greater(t, rep.Sent, int64(40))
	require.Equal(t, 50, rep.Sample.Conns)
	require.Zero(t, rep.Sample.Lost)
	require.Zero(t, rep.Sample.Duplicates)
	require.Equal(t, rep.Sample.Expected, rep.Sample.Received)
	require.Equal(t, rep.Expected, rep.Delivered)
	require.Equal(t, rep.Sent*250, rep.Expected, "each room's 250 viewers get each of its comments")
	require.Zero(t, rep.Lost())
	require.Equal(t, uint64(rep.Delivered), rep.Latency.Count)
	require.Greater(t, rep.Latency.P50MS, 0.0)
	require.GreaterOrEqual(t, rep.Latency.MaxMS, rep.Latency.P99MS)
	require.Positive(t, rep.RSS.AfterKB)
	require.NotEmpty(t, rep.Series)

	raw, err := os.ReadFile(cfg.JSON)
	require.NoError(t, err)
	var parsed bench.Report
	require.NoError(t, json.Unmarshal(raw, &parsed))
	require.Equal(t, rep.Delivered, parsed.Delivered)
	require.Equal(t, 500, parsed.Config.Conns)
	require.Len(t, parsed.Series, len(rep.Series))
	page, err := os.ReadFile(cfg.HTML)
	require.NoError(t, err)
	require.Contains(t, string(page), "<svg")
	require.Contains(t, string(page), "polyline")
	require.False(t, strings.Contains(string(page), "<script"), "the page is self-contained and static")
}

// Two viewers that stop reading are disconnected by the server (whose send queue and write
// timeout are lowered to make that quick) while every other viewer still receives everything.
func TestFanoutSlowViewers(t *testing.T) {
	url := startNode(t, func(c *config.Config) {
		c.Comet.SendQueue = 4
		c.Comet.WriteTimeout = 500 * time.Millisecond
		c.Danmaku.Rate = 0 // a few senders at 10 comments/s each
	})
	cfg := bench.DefaultConfig()
	cfg.URL = url
	cfg.Conns = 100
	cfg.Rooms = 1
	cfg.Rate = 100
	cfg.Senders = 5
	cfg.SenderRate = 20
	cfg.MsgSize = 100
	cfg.ProtoVer = 0 // plain JSON: the slow viewers' buffers fill sooner
	cfg.WSRatio = 0.5
	cfg.Poll = false // the other tests read through epoll; this one with a goroutine per viewer
	cfg.Duration = 4 * time.Second
	cfg.Drain = 10 * time.Second
	cfg.Heartbeat = time.Second
	cfg.Slow = 2
	f, err := bench.New(cfg, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := f.Run(context.Background())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.NotNil(t, rep.Slow)
	require.Equal(t, 2, rep.Slow.Opened, rep.Slow.FirstError)
	require.Equal(t, 2, rep.Slow.Disconnected, "the server closes viewers that never read")
	require.Len(t, rep.Slow.DisconnectedAfterS, 2)
	require.Less(t, rep.Slow.DisconnectedAfterS[1], cfg.Duration.Seconds()+cfg.Drain.Seconds())
	require.Equal(t, int64(100), rep.Conns.Established)
	require.Zero(t, rep.Conns.Dropped, rep.Conns.DropError)
	require.Zero(t, rep.SendErrors, rep.FirstSendError)
	require.Greater(t, rep.Sent, int64(100))
	require.Zero(t, rep.Lost(), "the other viewers lose nothing")
	require.Equal(t, rep.Sent*100, rep.Delivered)
}

// An idle run opens the connections, heartbeats, sends nothing and reports memory.
func TestFanoutIdle(t *testing.T) {
	url := startAllInOne(t)
	cfg := bench.DefaultConfig()
	cfg.URL = url
	cfg.Conns = 200
	cfg.Rooms = 2
	cfg.Rate = 0
	cfg.Duration = 2 * time.Second
	cfg.Heartbeat = time.Second
	cfg.PID = os.Getpid()
	f, err := bench.New(cfg, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := f.Run(context.Background())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())
	require.Equal(t, int64(200), rep.Conns.Established)
	require.Zero(t, rep.Conns.Dropped, rep.Conns.DropError)
	require.Zero(t, rep.Senders)
	require.Zero(t, rep.Sent)
	require.Zero(t, rep.Lost())
	require.Positive(t, rep.RSS.AfterKB)
	require.InDelta(t, 2, rep.SendSeconds, 0.5)
}
