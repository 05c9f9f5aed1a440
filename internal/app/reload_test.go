package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// reloadNode is a process with account, logic, room, danmaku, gift and the gateway on a temporary
// data dir, started the way `zhibo serve -config FILE` starts: its config is read from a YAML
// file and command-line flags, and read again from both on each reload.
type reloadNode struct {
	t    *testing.T
	a    *App
	base string
	file string
	logs *syncBuffer
}

// startReloadNode writes yaml to the node's config file and starts the node; the file is
// watched every poll (and SIGHUP is listened to) until the test ends.
func startReloadNode(t *testing.T, yaml string, poll time.Duration) *reloadNode {
	dir := t.TempDir()
	n := &reloadNode{t: t, file: filepath.Join(dir, "zhibo.yaml"), logs: &syncBuffer{}}
	n.write(yaml)
	args := []string{"-config", n.file, "-data_dir", filepath.Join(dir, "data"),
		"-gateway.http_addr", "127.0.0.1:0", "-account.bcrypt_cost", "4",
		"-account.limits.register_per_ip_hour", "0", "-danmaku.history_size", "20"}
	load := func() (config.Config, error) {
		cfg, _, err := config.Load("zhibo", args, func(string) string { return "" }, io.Discard, nil)
		return cfg, err
	}
	cfg, err := load()
	require.NoError(t, err)
	log, err := obs.NewLogger(n.logs, cfg.Log)
	require.NoError(t, err)
	n.a, err = New(cfg, []string{"account", "logic", "room", "danmaku", "gift", "gateway"}, log)
	require.NoError(t, err)
	n.a.ReloadFrom(load)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, n.a.Start(ctx))
	stop := n.a.WatchConfig(ctx, poll)
	t.Cleanup(func() {
		stop()
		cancel()
		require.NoError(t, n.a.Stop(context.Background()))
	})
	n.base = "http://" + n.a.HTTPAddr().String()
	return n
}

// hangUp sends SIGHUP to this process, as `kill -HUP` would.
func (n *reloadNode) hangUp() {
	p, err := os.FindProcess(os.Getpid())
	require.NoError(n.t, err)
	require.NoError(n.t, p.Signal(syscall.SIGHUP))
}

// write replaces the config file whole, the way zhibo admin create and editors that save by
// rename do: written in place, the file is empty between the truncate and the write, and a
// writer held up for a poll or two on a busy machine would have the watcher apply (or refuse)
// that empty file — a reload the test did not ask for, bumping the counters it reads.
func (n *reloadNode) write(yaml string) {
	tmp := n.file + ".tmp"
	require.NoError(n.t, os.WriteFile(tmp, []byte(yaml), 0o600))
	require.NoError(n.t, os.Rename(tmp, n.file))
}

// reloadWait bounds the wait for a reload a test asked for: a file change is applied within
// two polls and a SIGHUP at once, but under -race on a loaded machine the watcher goroutine
// may wait its turn for much longer than the polls themselves.
const reloadWait = 10 * time.Second

// call makes one API request and returns the HTTP status and the envelope's data or message.
func (n *reloadNode) call(method, path, tok string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(n.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	require.NoError(n.t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(n.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(n.t, err)
	return resp.StatusCode, string(b)
}

type reloadUser struct {
	UID   int64  `json:"uid"`
	Token string `json:"token"`
}

func (n *reloadNode) register(name string) reloadUser {
	code, body := n.call("POST", "/api/auth/register", "", map[string]string{"name": name, "password": "password1"})
	require.Equal(n.t, 200, code, body)
	var env struct{ Data reloadUser }
	require.NoError(n.t, json.Unmarshal([]byte(body), &env))
	return env.Data
}

func (n *reloadNode) createRoom(u reloadUser) int64 {
	code, body := n.call("POST", "/api/rooms", u.Token, map[string]string{"title": "reload"})
	require.Equal(n.t, 200, code, body)
	var env struct{ Data struct{ ID int64 } }
	require.NoError(n.t, json.Unmarshal([]byte(body), &env))
	return env.Data.ID
}

func (n *reloadNode) comment(u reloadUser, room int64, text string) int {
	code, _ := n.call("POST", fmt.Sprintf("/api/rooms/%d/danmaku", room), u.Token, map[string]string{"text": text})
	return code
}

func (n *reloadNode) reloads(trigger, result string) float64 {
	return testutil.ToFloat64(n.a.reload.reloads.WithLabelValues(trigger, result))
}

// A SIGHUP makes the process read its file again; a new danmaku rate applies to the next
// comment. Command-line flags keep winning over the file.
func TestSIGHUPAppliesNewDanmakuRate(t *testing.T) {
	n := startReloadNode(t, "danmaku:\n  rate: 0.001\n  burst: 1\n", time.Hour) // the file is not polled here
	u := n.register("hupper")
	room := n.createRoom(u)
	require.Equal(t, 200, n.comment(u, room, "one"))
	require.Equal(t, 429, n.comment(u, room, "two"), "burst 1 at 0.001/s")

	n.write("danmaku:\n  rate: 1000\n  burst: 50\n  history_size: 999\n")
	n.hangUp()
	require.Eventually(t, func() bool { return n.reloads(triggerSignal, resultApplied) == 1 }, reloadWait, 10*time.Millisecond)
	require.Equal(t, 200, n.comment(u, room, "three"))
	require.Equal(t, 200, n.comment(u, room, "four"))
	require.Contains(t, n.logs.String(), `"msg":"config reloaded","trigger":"signal","changed":["danmaku.burst","danmaku.rate"]`,
		"history_size is given on the command line, which wins over the file: it did not change")
}

// Writing the file is enough: the gateway's per-IP rate changes within two polls.
func TestFileChangeAppliesNewGatewayRate(t *testing.T) {
	n := startReloadNode(t, "gateway:\n  rate_per_ip: 0.001\n  burst_per_ip: 3\n", 20*time.Millisecond)
	statuses := func() []int {
		var out []int
		for range 4 {
			code, _ := n.call("GET", "/api/gifts", "", nil)
			out = append(out, code)
		}
		return out
	}
	require.Equal(t, []int{200, 200, 200, 429}, statuses())

	n.write("gateway:\n  rate_per_ip: 10000\n  burst_per_ip: 10000\n")
	start := time.Now()
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultApplied) == 1 }, reloadWait, 5*time.Millisecond)
	t.Logf("applied %s after the write", time.Since(start))
	require.Equal(t, []int{200, 200, 200, 200}, statuses())
	require.Zero(t, n.reloads(triggerFile, resultRefused))

	// The metrics show the reload and the config in force.
	code, metrics := n.call("GET", "/metrics", "", nil)
	require.Equal(t, 200, code)
	require.Contains(t, metrics, `zhibo_config_reloads_total{result="applied",trigger="file"} 1`)
	require.Contains(t, metrics, fmt.Sprintf(`zhibo_config_info{hash=%q} 1`, n.a.reload.current().Hash()))
	require.Contains(t, metrics, "zhibo_config_last_reload_success_timestamp_seconds")
}

// Requests keep flowing while the limits they pass through change: none fails.
func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	cfgAt := func(i int) string {
		return fmt.Sprintf("gateway:\n  rate_per_ip: %d\n  burst_per_ip: 100000\ndanmaku:\n  rate: %d\n  burst: 10000\n"+
			"logic:\n  entry_room_rate: %d\nbanned_words: [w%d]\n", 100000+i, 1000+i, 10+i, i)
	}
	n := startReloadNode(t, cfgAt(0), time.Hour)
	var users []reloadUser
	for i := range 3 {
		users = append(users, n.register(fmt.Sprintf("load%d", i)))
	}
	room := n.createRoom(users[0])

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	for _, u := range users {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				path, method, body := "/api/gifts", "GET", ""
				if i%2 == 1 {
					path, method, body = fmt.Sprintf("/api/rooms/%d/danmaku", room), "POST", `{"text":"steady"}`
				}
				req, _ := http.NewRequest(method, n.base+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+u.Token)
				resp, err := http.DefaultClient.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%s %s: %d", method, path, resp.StatusCode))
				}
			}
		})
	}
	const reloads = 20
	for i := 1; i <= reloads; i++ {
		n.write(cfgAt(i))
		res, err := n.a.Reload(context.Background(), triggerAPI)
		require.NoError(t, err)
		require.Equal(t, []string{"banned_words", "danmaku.rate", "gateway.rate_per_ip", "logic.entry_room_rate"}, res.Changed)
		time.Sleep(20 * time.Millisecond) // let requests run between reloads
	}
	cancel()
	wg.Wait()
	require.Equal(t, float64(reloads), n.reloads(triggerAPI, resultApplied))
	t.Logf("%d requests during %d reloads", sent.Load(), reloads)
	require.Greater(t, sent.Load(), int64(3*reloads), "requests ran during the reloads")
	require.Zero(t, failed.Load(), "first failure: %v", firstFailure.Load())
}

// A file that does not parse, does not validate, changes a setting that cannot change live
// or names an admin no one has registered is refused whole: the old limit stays, the reason
// is logged and counted.
func TestBadConfigIsRefusedAndOldLimitStays(t *testing.T) {
	good := "danmaku:\n  rate: 0.001\n  burst: 1\n"
	n := startReloadNode(t, good, 20*time.Millisecond)
	u := n.register("refused")
	room := n.createRoom(u)
	require.Equal(t, 200, n.comment(u, room, "one"))
	require.Equal(t, 429, n.comment(u, room, "two"))

	for i, c := range []struct{ yaml, reason string }{
		{"danmaku:\n  rate: [1000\n", "config file"},
		{"danmaku:\n  rate: 1000\n  burst: 10\n  mystery: 1\n", "mystery"},
		{"danmaku:\n  rate: -5\n", "danmaku.rate"},
		{"danmaku:\n  rate: 1000\n  burst: 10\ngrpc_addr: 127.0.0.1:1\n", "grpc_addr cannot change while the process runs"},
		{"danmaku:\n  rate: 1000\n  burst: 10\nstore:\n  max_open_conns: 3\n", "store.max_open_conns cannot change"},
		{"danmaku:\n  rate: 1000\n  burst: 10\nadmins: [424242]\n", "uid 424242, which no one has registered"},
	} {
		n.write(c.yaml)
		res, err := n.a.Reload(context.Background(), triggerAPI)
		require.ErrorContains(t, err, c.reason, c.yaml)
		require.Equal(t, resultRefused, res.Result)
		require.Contains(t, res.Reason, c.reason)
		require.Equal(t, float64(i+1), n.reloads(triggerAPI, resultRefused))
		require.Equal(t, 429, n.comment(u, room, "still limited"), "the old limit stays after %q", c.yaml)
		require.False(t, n.a.isAdmin(424242))
	}
	require.Contains(t, n.logs.String(), `"msg":"config reload refused, the running config stays"`)
	require.Contains(t, n.logs.String(), "grpc_addr cannot change while the process runs")
	require.Zero(t, n.reloads(triggerAPI, resultApplied))

	// The file watcher refuses a bad file the same way, and applies the next good one.
	n.write("danmaku: {rate: 1000, burst: oops}\n")
	require.Eventually(t, func() bool { return strings.Contains(n.logs.String(), "`oops`") }, reloadWait, 5*time.Millisecond)
	require.Positive(t, n.reloads(triggerFile, resultRefused))
	require.Equal(t, 429, n.comment(u, room, "still limited"))
	n.write("danmaku:\n  rate: 1000\n  burst: 10\n")
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultApplied) == 1 }, reloadWait, 5*time.Millisecond)
	// The new rate (1000/s) refills the emptied bucket from the change on: a token within 1ms.
	require.Eventually(t, func() bool { return n.comment(u, room, "free again") == 200 }, reloadWait, 10*time.Millisecond)
}

// POST /api/admin/config/reload (and `zhibo config reload`) reloads for an admin and is
// refused to anyone else; admins, the gift catalog, hot-room pins and the log level change
// live with it.
func TestAdminAPIReload(t *testing.T) {
	n := startReloadNode(t, "", time.Hour)
	op := n.register("operator")
	viewer := n.register("viewer")
	room := n.createRoom(viewer)

	code, _ := n.call("POST", "/api/admin/config/reload", "", nil)
	require.Equal(t, 401, code)
	code, _ = n.call("POST", "/api/admin/config/reload", op.Token, nil)
	require.Equal(t, 403, code, "not an admin yet")

	// The operator registered; naming its uid in admins needs no restart.
	n.write(fmt.Sprintf("admins: [%d]\n", op.UID))
	n.hangUp()
	require.Eventually(t, func() bool { return n.a.isAdmin(op.UID) }, reloadWait, 10*time.Millisecond)

	code, body := n.call("POST", "/api/admin/config/reload", op.Token, nil)
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"result":"unchanged","changed":[]`)
	code, _ = n.call("POST", "/api/admin/config/reload", viewer.Token, nil)
	require.Equal(t, 403, code, "still refused to a user who is not an admin")

	n.write(fmt.Sprintf(`admins: [%d]
log:
  level: debug
room:
  hot_rooms: [%d]
gift:
  catalog:
    - {id: 1, name: Glow Stick, price: 1, coin_type: silver}
    - {id: 77, name: Fireworks, price: 300, coin_type: gold}
`, op.UID, room))
	code, body = n.call("POST", "/api/admin/config/reload", op.Token, nil)
	require.Equal(t, 200, code, body)
	var env struct{ Data ReloadResult }
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	require.Equal(t, resultApplied, env.Data.Result)
	require.Equal(t, []string{"gift.catalog", "log.level", "room.hot_rooms"}, env.Data.Changed)
	require.True(t, n.a.log.Enabled(context.Background(), slog.LevelDebug))
	_, body = n.call("GET", "/api/gifts", "", nil)
	require.Contains(t, body, "Fireworks")
	require.NotContains(t, body, "Rocket")
	_, body = n.call("GET", "/api/admin/hot", op.Token, nil)
	require.Contains(t, body, fmt.Sprintf(`"id":%d`, room), n.logs.String())
	require.Contains(t, body, "config: room.hot_rooms")

	// The command line does the same, and says why a refused config was refused.
	code, out, errs := run("config", "reload", "-url", n.base, "-token", op.Token)
	require.Equal(t, 0, code, errs)
	require.Equal(t, "config unchanged (hash "+n.a.reload.current().Hash()+")\n", out)
	n.write(fmt.Sprintf("admins: [%d]\ndanmaku:\n  rate: 5\n", op.UID))
	code, out, errs = run("config", "reload", "-url", n.base, "-token", op.Token)
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "config reloaded: danmaku.rate, gift.catalog, log.level, room.hot_rooms")
	n.write("grpc_addr: 127.0.0.1:1\n")
	code, _, errs = run("config", "reload", "-url", n.base, "-token", op.Token)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "409")
	require.Contains(t, errs, "grpc_addr cannot change while the process runs")
	code, _, errs = run("config", "reload", "-url", n.base, "-token", viewer.Token)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "403")
	_, body = n.call("GET", "/api/admin/hot", op.Token, nil)
	require.NotContains(t, body, "config: room.hot_rooms", "the pin left with the applied config that dropped it")

	// An admin removed by a reload loses the operator routes at once.
	n.write("")
	code, body = n.call("POST", "/api/admin/config/reload", op.Token, nil)
	require.Equal(t, 200, code, body)
	code, _ = n.call("POST", "/api/admin/config/reload", op.Token, nil)
	require.Equal(t, 403, code)
}

// A banned word added to the file refuses the next comment, room title and user name that
// contain it; removing it lets them through again.
func TestBannedWordsApplyToNextComment(t *testing.T) {
	n := startReloadNode(t, "", time.Hour)
	u := n.register("speaker")
	room := n.createRoom(u)
	require.Equal(t, 200, n.comment(u, room, "buy cheap gold"))

	n.write("banned_words: [gold]\n")
	_, err := n.a.Reload(context.Background(), triggerAPI)
	require.NoError(t, err)
	require.Equal(t, 400, n.comment(u, room, "buy cheap ｇｏｌｄ"))
	code, _ := n.call("PATCH", fmt.Sprintf("/api/rooms/%d", room), u.Token, map[string]string{"title": "gold rush"})
	require.Equal(t, 400, code)
	code, _ = n.call("POST", "/api/auth/register", "", map[string]string{"name": "goldfinger", "password": "password1"})
	require.Equal(t, 400, code)

	n.write("")
	_, err = n.a.Reload(context.Background(), triggerAPI)
	require.NoError(t, err)
	require.Equal(t, 200, n.comment(u, room, "buy cheap gold"))
}
