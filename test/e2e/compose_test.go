package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/test/testbin"
)

// envRedis names the variable with the Redis address for integration tests.
const envRedis = "ZHIBO_TEST_REDIS_ADDR"

// topology maps the compose file's addresses onto this machine: every (service instance,
// container port) gets a free loopback port, the engines are the test's own, and each
// database the compose file names is a fresh one on the test MariaDB.
type topology struct {
	t         *testing.T
	cf        composeFile
	ports     map[string]int    // "service#instance:port" → loopback port
	published map[string]string // host port → "service#0:container port"
	dbs       map[string]string // database name in the compose file → DSN of a fresh one
	redis     string
	nats      string
}

var (
	composeDSN    = regexp.MustCompile(`[^\s"'@]*@tcp\(mariadb:3306\)/(\w+)[^\s"']*`)
	listenAddr    = regexp.MustCompile(`(^|[\s"'=,])(?:0\.0\.0\.0)?:(\d+)`)
	localhostPort = regexp.MustCompile(`localhost((?::\d+)+)`)
	selfURL       = regexp.MustCompile(`//127\.0\.0\.1:(\d+)`)
)

func (tp *topology) port(key string) int {
	if p, ok := tp.ports[key]; ok {
		return p
	}
	p := freePort(tp.t)
	tp.ports[key] = p
	return p
}

// rewrite turns a value of service instance self (a flag, an environment value or a config
// file) into its equivalent on this machine.
func (tp *topology) rewrite(self, s string) string {
	s = composeDSN.ReplaceAllStringFunc(s, func(m string) string {
		db := composeDSN.FindStringSubmatch(m)[1]
		if tp.dbs[db] == "" {
			tp.dbs[db] = sqltest.NewMySQLDatabase(tp.t)
		}
		return tp.dbs[db]
	})
	s = strings.ReplaceAll(s, "nats://nats:4222", tp.nats)
	s = strings.ReplaceAll(s, "redis:6379", tp.redis)
	for name := range tp.cf.Services {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `:(\d+)\b`)
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			return fmt.Sprintf("127.0.0.1:%d", tp.port(name+"#0:"+re.FindStringSubmatch(m)[1]))
		})
	}
	s = listenAddr.ReplaceAllStringFunc(s, func(m string) string {
		g := listenAddr.FindStringSubmatch(m)
		return fmt.Sprintf("%s127.0.0.1:%d", g[1], tp.port(self+":"+g[2]))
	})
	return localhostPort.ReplaceAllStringFunc(s, func(m string) string {
		out := "127.0.0.1"
		for _, p := range strings.Split(m, ":")[1:] {
			target, ok := tp.published[p]
			require.True(tp.t, ok, "localhost:%s is no published port", p)
			out += fmt.Sprintf(":%d", tp.port(target))
		}
		return out
	})
}

// hostPort is the loopback address of a port a service publishes on the host.
func (tp *topology) hostPort(host string) string {
	target, ok := tp.published[host]
	require.True(tp.t, ok, "no service publishes %s", host)
	return fmt.Sprintf("127.0.0.1:%d", tp.port(target))
}

// The compose topology run for real as processes on this machine: each zhibo service of
// deploy/compose/compose.yaml (every replica) started from its own command line, environment
// and mounted config file, rewritten only where an address or a database must be one of this
// machine (see topology). A few flags are added to every process for the test: its data
// directory, a queue namespace and Redis prefix of its own, bcrypt cost 4, log level warn, and
// 1000 coins per new wallet (the core scenario sends gifts from fresh accounts). Every process must answer
// its compose health check; then the core scenario runs against the front gateway, with a
// WebSocket viewer on comet 1 and a raw TCP viewer on comet 2, found through room's host list,
// and the private-message scenario (a chat, a group, the BFF's inbox from the IM components
// over gRPC), its user's channel on comet 1.
func TestComposeTopology(t *testing.T) {
	sqltest.MySQLDSN(t) // skips without the engines; CI sets them all
	for _, env := range []string{envRedis, queuetest.EnvNATS} {
		if os.Getenv(env) == "" {
			t.Skip(env + " not set: compose topology test skipped")
		}
	}
	vars := readEnvFile(t, filepath.Join(composeDir, "env.example"))
	cf := loadCompose(t, vars)
	tp := &topology{t: t, cf: cf, ports: map[string]int{}, published: map[string]string{}, dbs: map[string]string{},
		redis: os.Getenv(envRedis), nats: os.Getenv(queuetest.EnvNATS)}
	for name, s := range cf.Services {
		for host, container := range s.published(t) {
			tp.published[host] = name + "#0:" + container
		}
	}
	bin := testbin.Build(t)
	ns := queuetest.Namespace(t, tp.nats, "compose") // its cleanup runs after the processes are stopped
	t.Cleanup(func() { deleteRedisKeys(t, tp.redis, ns+":") })
	testFlags := []string{"-queue.namespace", ns, "-redis.prefix", ns + ":", "-account.bcrypt_cost", "4",
		"-gift.initial_balance", "1000", "-log.level", "warn"}

	type proc struct{ name, health string }
	var started []proc
	names := make([]string, 0, len(cf.Services))
	for name := range cf.Services {
		names = append(names, name)
	}
	// The order of the file: engines' clients before the front gateway (depends_on).
	raw, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	require.NoError(t, err)
	slices.SortFunc(names, func(a, b string) int {
		return strings.Index(string(raw), "\n  "+a+":\n") - strings.Index(string(raw), "\n  "+b+":\n")
	})
	for _, name := range names {
		s := cf.Services[name]
		if !s.zhibo() {
			continue
		}
		for i := range s.replicas() {
			self := fmt.Sprintf("%s#%d", name, i)
			mounts := s.mounts()
			args := []string{"serve"}
			for _, a := range s.Command[1:] {
				if repo, ok := mounts[a]; ok { // the mounted file, rewritten for this machine
					b, err := os.ReadFile(repo)
					require.NoError(t, err)
					a = filepath.Join(t.TempDir(), filepath.Base(repo))
					require.NoError(t, os.WriteFile(a, []byte(tp.rewrite(self, string(b))), 0o600))
				} else {
					a = tp.rewrite(self, a)
				}
				args = append(args, a)
			}
			env := map[string]string{}
			for k, v := range s.Environment {
				env[k] = tp.rewrite(self, v)
			}
			args = append(append(args, "-data_dir", t.TempDir()), testFlags...)
			requireLoopbackListeners(t, bin, self, args, zhiboEnv(env))
			testbin.StartEnv(t, self, bin, zhiboEnv(env), args...)
			health := ""
			if hc := s.Healthcheck.Test; len(hc) > 0 { // run inside the container: 127.0.0.1 is the service itself
				health = selfURL.ReplaceAllStringFunc(hc[len(hc)-1], func(m string) string {
					return fmt.Sprintf("//127.0.0.1:%d", tp.port(self+":"+selfURL.FindStringSubmatch(m)[1]))
				})
			}
			started = append(started, proc{self, health})
		}
	}
	require.NotEmpty(t, tp.dbs, "the business components run on MariaDB")

	for _, p := range started {
		require.True(t, strings.HasPrefix(p.health, "http://127.0.0.1:"), "%s: health check %q", p.name, p.health)
		require.Eventually(t, func() bool {
			resp, err := http.Get(p.health)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 100*time.Millisecond, "%s answers its health check %s", p.name, p.health)
	}

	// The host list room hands to clients is the comets' published ports.
	front := Node{URL: "http://" + tp.hostPort("8080")}
	anchor := register(t, front, fmt.Sprintf("hosts%d", time.Now().UnixNano()%1e6))
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, front, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "hosts"}, &room)
	require.Equal(t, 200, code)
	var info struct {
		HostList []struct {
			Host   string `json:"host"`
			Port   int    `json:"port"`
			WSPort int    `json:"ws_port"`
		} `json:"host_list"`
	}
	code, _ = api(t, front, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", room.ID), anchor.Token, nil, &info)
	require.Equal(t, 200, code)
	require.Len(t, info.HostList, 2)
	for i, h := range info.HostList {
		comet := fmt.Sprintf("comet%d#0", i+1)
		require.Equal(t, fmt.Sprintf("127.0.0.1:%d:%d", tp.port(comet+":2243"), tp.port(comet+":8080")),
			fmt.Sprintf("%s:%d:%d", h.Host, h.Port, h.WSPort))
	}
	first, second := info.HostList[0], info.HostList[1]
	front.WSURL = fmt.Sprintf("ws://%s:%d/sub", first.Host, first.WSPort)
	front.TCPAddr = fmt.Sprintf("%s:%d", second.Host, second.Port)
	CoreScenario(t, front)
	IMScenario(t, front)
}

// requireLoopbackListeners runs `zhibo config print` with a process's flags and environment
// and requires every listener it would open on 127.0.0.1: a listen address the compose
// config left to its default would otherwise bind every interface of this machine.
func requireLoopbackListeners(t *testing.T, bin, name string, args, env []string) {
	var printArgs []string
	for i := 1; i < len(args); i++ {
		if args[i] == "-components" || args[i] == "--components" {
			i++
			continue
		}
		printArgs = append(printArgs, args[i])
	}
	cmd := exec.Command(bin, append([]string{"config", "print"}, printArgs...)...)
	cmd.Env = env
	out, err := cmd.Output()
	require.NoError(t, err, "%s: config print", name)
	var c struct {
		GRPCAddr string `yaml:"grpc_addr"`
		Gateway  struct {
			HTTPAddr    string `yaml:"http_addr"`
			MetricsAddr string `yaml:"metrics_addr"`
		} `yaml:"gateway"`
		Comet struct {
			TCPAddr string `yaml:"tcp_addr"`
		} `yaml:"comet"`
	}
	require.NoError(t, yaml.Unmarshal(out, &c))
	addrs := []string{c.Gateway.HTTPAddr, c.GRPCAddr, c.Gateway.MetricsAddr}
	if strings.Contains(strings.Join(args, " "), "-components comet") {
		addrs = append(addrs, c.Comet.TCPAddr)
	}
	for _, a := range addrs {
		if a != "" {
			require.True(t, strings.HasPrefix(a, "127.0.0.1:"), "%s listens on %q", name, a)
		}
	}
}

// deleteRedisKeys removes the keys under prefix that the processes left in Redis.
func deleteRedisKeys(t *testing.T, addr, prefix string) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Logf("cleanup: scan: %v", err)
			return
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Del().Key(e.Elements...).Build()).Error(); err != nil {
				t.Logf("cleanup: del: %v", err)
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}
