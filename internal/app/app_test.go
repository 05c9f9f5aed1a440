package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

func TestResolve(t *testing.T) {
	none := config.Peers{}
	got, err := Resolve([]string{"gateway", "account"}, none)
	require.NoError(t, err)
	require.Equal(t, []string{"account", "gateway"}, got, "start order, not argument order")
	got, err = Resolve([]string{"logic"}, none)
	require.NoError(t, err)
	require.Equal(t, []string{"logic", "gateway"}, got, "every process gets the gateway: health, metrics, /sub")

	_, err = Resolve([]string{"danmaku", "gateway"}, none)
	require.ErrorContains(t, err, "component danmaku needs account")
	require.ErrorContains(t, err, "-peers.account")
	_, err = Resolve([]string{"danmaku"}, config.Peers{Account: "127.0.0.1:1"})
	require.ErrorContains(t, err, "component danmaku needs room", "every use is checked")
	got, err = Resolve([]string{"danmaku"}, config.Peers{Account: "127.0.0.1:1", Room: "127.0.0.1:2"})
	require.NoError(t, err, "every component runs alone once its peers are named")
	require.Equal(t, []string{"danmaku", "gateway"}, got)
	got, err = Resolve([]string{"room"}, config.Peers{Account: "127.0.0.1:1"})
	require.NoError(t, err, "logic is optional for room")
	require.Equal(t, []string{"room", "gateway"}, got)
	_, err = Resolve([]string{"comet"}, none)
	require.ErrorContains(t, err, "comet needs logic")
	require.ErrorContains(t, err, "-peers.logic")
	got, err = Resolve([]string{"comet"}, config.Peers{Logic: "127.0.0.1:1"})
	require.NoError(t, err)
	require.Equal(t, []string{"comet", "gateway"}, got)
	_, err = Resolve([]string{"job"}, none)
	require.NoError(t, err, "a job finds its comets through presence")
	_, err = New(config.Defaults(), []string{"job"}, obs.Discard())
	require.ErrorContains(t, err, "queue.url", "which needs the shared queue")
	_, err = Resolve([]string{"job"}, config.Peers{Comets: []string{"a:1", "b:1"}})
	require.NoError(t, err)
	_, err = Resolve([]string{"mystery"}, none)
	require.ErrorContains(t, err, `unknown component "mystery"`)
	_, err = Resolve(nil, none)
	require.Error(t, err)
	all, err := Resolve(AllNames(), none)
	require.NoError(t, err)
	require.Equal(t, AllNames(), all)
}

func TestClusterNeedsSharedQueue(t *testing.T) {
	cfg := config.Defaults()
	cfg.Peers.Logic = "127.0.0.1:1"
	_, err := New(cfg, []string{"comet"}, obs.Discard())
	require.NoError(t, err, "a comet uses no queue")
	_, err = New(cfg, []string{"account", "room", "gift", "danmaku"}, obs.Discard())
	require.ErrorContains(t, err, "queue.url")
}

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	code, out, _ := run("components")
	require.Equal(t, 0, code)
	require.Contains(t, out, "comet")
	require.Regexp(t, `comet +uses logic `, out)
	require.Regexp(t, `room +uses account,logic\?,media\? `, out)

	code, out, _ = run("config", "check")
	require.Equal(t, 0, code)
	require.Equal(t, "config ok\n", out)
	code, _, errs := run("config", "check", "-job.window", "5s")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "job.window")
	// check --components checks what serve --components would refuse, opening nothing.
	code, _, errs = run("config", "check", "-components", "comet", "-grpc_addr", ":9000")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "comet needs logic")
	code, _, errs = run("config", "check", "-components", "job")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "queue.url")
	code, out, _ = run("config", "check", "-components", "comet", "-peers.logic", "dns:///logic:9000")
	require.Equal(t, 0, code)
	require.Equal(t, "config ok\n", out)
	code, _, errs = run("config", "check", "extra")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "unexpected arguments")
	code, out, _ = run("config", "print", "-gateway.http_addr", ":9999")
	require.Equal(t, 0, code)
	require.Contains(t, out, `http_addr: :9999`)
	code, out, _ = run("config", "doc")
	require.Equal(t, 0, code)
	require.Contains(t, out, "ZHIBO_GATEWAY_HTTP_ADDR")

	code, _, errs = run("serve", "-components", "comet", "-data_dir", t.TempDir())
	require.Equal(t, 1, code)
	require.Contains(t, errs, "comet needs logic")
	code, _, errs = run("serve", "-components", "gift", "-data_dir", t.TempDir())
	require.Equal(t, 1, code)
	require.Contains(t, errs, "gift needs account")
	code, _, _ = run("bogus")
	require.Equal(t, 2, code)

	code, _, errs = run("up", "-gatway.http_addr", ":1")
	require.Equal(t, 1, code)
	require.Equal(t, "zhibo: unknown flag -gatway.http_addr (did you mean -gateway.http_addr?)\n", errs, "one line, not the flag list")
	for _, v := range []string{"version", "--version", "-version"} {
		code, out, _ = run(v)
		require.Equal(t, 0, code)
		require.Regexp(t, `^zhibo \S+\nrevision \S+.*\ngo1\.\d+.* \w+/\w+\n$`, out)
	}
}

// A gateway-and-account node serves only what it has: the account API, health, metrics and
// the OpenAPI description of its own routes.
func TestPartialNodeServesItsOwnRoutes(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Account.BcryptCost = 4
	cfg.Room.CoverHosts = []string{"img.example.com"}
	a, err := New(cfg, []string{"account", "gateway"}, obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	defer a.Stop(context.Background())
	base := "http://" + a.HTTPAddr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/readyz")
	require.Equal(t, 200, code)
	resp, err := http.Get(base + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "img-src 'self' data: https://img.example.com;",
		"the page's images: its own, data: and room.cover_hosts, even where no room component runs")
	code, body := get("/api/openapi.json")
	require.Equal(t, 200, code)
	require.Contains(t, body, "/api/auth/register")
	require.NotContains(t, body, "/api/rooms")
	code, _ = get("/api/rooms")
	require.Equal(t, 404, code)
	code, body = get("/metrics")
	require.Equal(t, 200, code)
	require.True(t, strings.Contains(body, "zhibo_http_requests_total"))
	require.Regexp(t, `zhibo_build_info\{goversion="go1\.[^"]+",revision="[^"]+",version="[^"]+"\} 1`, body)
	require.Contains(t, body, `go_sql_open_connections{db_name="account"}`, "the store's pool, named after its component")
	resp, err = http.Post(base+"/api/auth/register", "application/json", strings.NewReader(`{"name":"solo","password":"password1"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
}

// `zhibo up` is the demo: new wallets get coins unless told otherwise. `zhibo serve` (any
// deployment) starts them empty; the file, the environment and the flags override both.
func TestUpGivesDemoCoinsServeDoesNot(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, comps, err := loadServe(nil, noEnv, io.Discard, false)
	require.NoError(t, err)
	require.Equal(t, AllNames(), comps)
	require.Equal(t, int64(gift.DemoInitialBalance), cfg.Gift.InitialBalance)
	cfg, _, err = loadServe([]string{"-components", "account,room,gift"}, noEnv, io.Discard, true)
	require.NoError(t, err)
	require.Zero(t, cfg.Gift.InitialBalance)
	require.Zero(t, config.Defaults().Gift.InitialBalance)

	cfg, _, err = loadServe([]string{"-gift.initial_balance", "0"}, noEnv, io.Discard, false)
	require.NoError(t, err)
	require.Zero(t, cfg.Gift.InitialBalance, "the flag overrides the demo default")
	cfg, _, err = loadServe(nil, func(k string) string {
		return map[string]string{"ZHIBO_GIFT_INITIAL_BALANCE": "7"}[k]
	}, io.Discard, false)
	require.NoError(t, err)
	require.Equal(t, int64(7), cfg.Gift.InitialBalance, "the environment overrides the demo default")
	file := filepath.Join(t.TempDir(), "z.yaml")
	require.NoError(t, os.WriteFile(file, []byte("gift:\n  initial_balance: 0\n"), 0o600))
	cfg, _, err = loadServe([]string{"-config", file}, noEnv, io.Discard, false)
	require.NoError(t, err)
	require.Zero(t, cfg.Gift.InitialBalance, "the file overrides the demo default")
}
