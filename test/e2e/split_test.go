package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/test/testbin"
)

// Ports handed to cluster processes come from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range starts at 32768 by default). A port the kernel picks for ":0"
// comes from that range, and between freePort and the process's bind, seconds later, an
// outgoing connection of another test could take it as its local port. Below the range only
// an explicit bind can, and the ports handed out are remembered so none is given twice.
const (
	portLow  = 20000
	portHigh = 32000
)

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// freePort returns a loopback port below the ephemeral range that nothing listens on and that
// no earlier call returned.
func freePort(t *testing.T) int {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := portLow + rand.IntN(portHigh-portLow)
		if ports[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		ports[p] = true
		return p
	}
	t.Fatalf("no free port in %d..%d", portLow, portHigh)
	return 0
}

// cluster is a split deployment: logic, two comets, a job and the business process.
type cluster struct {
	procs              map[string]*testbin.Proc
	rest               Node
	comet1WS, comet2WS string
	comet1TCP          string
	comet2TCP          string
}

// startCluster starts the split cluster against the NATS server named by ZHIBO_TEST_NATS_URL,
// or, without it, against one started in the test process (queuetest), so split mode is
// tested on every machine.
func startCluster(t *testing.T) *cluster {
	natsURL := queuetest.URL(t)
	bin := testbin.Build(t)
	ns := queuetest.Namespace(t, natsURL, "split") // its cleanup runs after the processes are stopped
	common := []string{"-queue.url", natsURL, "-queue.namespace", ns, "-secret", "split-cluster-secret-0123",
		"-log.level", "warn", "-gateway.rate_per_ip", "0", "-account.bcrypt_cost", "4", "-account.limits.register_per_ip_hour", "0",
		"-gateway.max_conns_per_ip", "0", "-comet.max_conns_per_ip", "0", // every viewer dials from 127.0.0.1
		"-comet.report_interval", "100ms", "-comet.write_timeout", "3s", "-logic.count_interval", "200ms", "-job.window", "20ms",
		"-danmaku.rate", "1000", "-danmaku.burst", "1000", "-banned_words", bannedE2E}
	port := func() string { return fmt.Sprint(freePort(t)) }
	logicRPC := "127.0.0.1:" + port()
	c1RPC, c1TCP, c1HTTP := "127.0.0.1:"+port(), port(), port()
	c2RPC, c2TCP, c2HTTP := "127.0.0.1:"+port(), port(), port()
	restHTTP := port()
	c := &cluster{procs: map[string]*testbin.Proc{},
		comet1WS: "ws://127.0.0.1:" + c1HTTP + "/sub", comet2WS: "ws://127.0.0.1:" + c2HTTP + "/sub",
		comet1TCP: "127.0.0.1:" + c1TCP, comet2TCP: "127.0.0.1:" + c2TCP}
	var order [][]string
	add := func(name string, args ...string) {
		args = append(append(append([]string{"serve"}, args...), "-data_dir", t.TempDir(), "-node", fmt.Sprint(len(order)+1)), common...)
		order = append(order, append([]string{name}, args...))
	}
	add("logic", "-components", "logic", "-grpc_addr", logicRPC, "-gateway.http_addr", "127.0.0.1:"+port())
	add("comet1", "-components", "comet", "-grpc_addr", c1RPC, "-peers.logic", logicRPC,
		"-comet.tcp_addr", "127.0.0.1:"+c1TCP, "-gateway.http_addr", "127.0.0.1:"+c1HTTP)
	add("comet2", "-components", "comet", "-grpc_addr", c2RPC, "-peers.logic", logicRPC,
		"-comet.tcp_addr", "127.0.0.1:"+c2TCP, "-gateway.http_addr", "127.0.0.1:"+c2HTTP)
	add("job", "-components", "job", "-peers.comets", c1RPC+","+c2RPC, "-gateway.http_addr", "127.0.0.1:"+port())
	add("rest", "-components", "account,room,gift,danmaku,bff", "-peers.logic", logicRPC,
		"-logic.hosts", fmt.Sprintf("127.0.0.1:%s:%s,127.0.0.1:%s:%s", c1TCP, c1HTTP, c2TCP, c2HTTP),
		"-gift.initial_balance", "1000", // wallets start empty by default; the scenarios send gifts from fresh accounts
		"-gateway.http_addr", "127.0.0.1:"+restHTTP)
	for _, o := range order {
		c.procs[o[0]] = testbin.Start(t, o[0], bin, o[1:]...)
	}
	c.rest = Node{URL: "http://127.0.0.1:" + restHTTP}
	return c
}

// The core scenario on a split cluster: the WebSocket viewer on comet 1, the TCP viewer on
// comet 2, logic, job and the business process each in their own process, over the real NATS.
func TestSplitCluster(t *testing.T) {
	c := startCluster(t)
	n := c.rest
	n.WSURL = c.comet1WS
	n.TCPAddr = c.comet2TCP
	CoreScenario(t, n)
	EnterScenario(t, n)
}

// stores gives each business component a database of its own: a fresh MariaDB database each
// when ZHIBO_TEST_MYSQL_DSN is set, else an SQLite file each. It returns the flags and the
// config of each store, to look inside afterwards.
func stores(t *testing.T) map[string]sqlstore.Config {
	out := map[string]sqlstore.Config{}
	dir := t.TempDir()
	for _, c := range []string{"account", "room", "gift", "danmaku", "im-chat", "im-group", "im-notice"} {
		if os.Getenv(sqltest.EnvMySQL) != "" {
			out[c] = sqlstore.Config{Driver: "mysql", DSN: sqltest.NewMySQLDatabase(t)}
		} else {
			out[c] = sqlstore.Config{Driver: "sqlite", DSN: filepath.Join(dir, c+".db")}
		}
	}
	return out
}

// tables lists the tables of a store.
func tables(t *testing.T, sc sqlstore.Config) []string {
	db, err := sqlstore.Open(context.Background(), sc, t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	if db.Dialect == sqlstore.MySQL {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	}
	rows, err := db.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		if n != "schema_migrations" {
			out = append(out, n)
		}
	}
	require.NoError(t, rows.Err())
	slices.Sort(out)
	return out
}

// alone is a cluster with every component in its own process (startAlone).
type alone struct {
	procs   map[string]*testbin.Proc
	front   Node // the gateway, with the WebSocket viewer on comet1 and TCP on comet2
	dbs     map[string]sqlstore.Config
	roomURL string // the room process's own HTTP listener (its /metrics)
}

// startAlone starts account, room, gift, danmaku, bff, logic, two comets, two jobs, media, the
// three IM components (the BFF reads its inbox from them over gRPC) and a front gateway, each in its own process, each business component on a database of its own; extra
// flags go to every process.
func startAlone(t *testing.T, extra ...string) *alone {
	return startAloneOn(t, queuetest.URL(t), extra...)
}

// startAloneOn is startAlone on the NATS server at natsURL.
func startAloneOn(t *testing.T, natsURL string, extra ...string) *alone {
	return startAloneWith(t, natsURL, stores(t), extra...)
}

// startAloneWith is startAlone on the NATS server at natsURL with the given stores.
func startAloneWith(t *testing.T, natsURL string, dbs map[string]sqlstore.Config, extra ...string) *alone {
	bin := testbin.Build(t)
	ns := queuetest.Namespace(t, natsURL, "alone") // its cleanup runs after the processes are stopped
	port := func() string { return fmt.Sprint(freePort(t)) }
	rpc := map[string]string{}
	for _, n := range []string{"account", "room", "gift", "danmaku", "logic", "comet1", "comet2", "media", "im-chat", "im-group", "im-notice"} {
		rpc[n] = "127.0.0.1:" + port()
	}
	httpPort := map[string]string{}
	for _, n := range []string{"account", "room", "gift", "danmaku", "bff", "logic", "comet1", "comet2", "job1", "job2", "media", "im-chat", "im-group", "im-notice", "gateway"} {
		httpPort[n] = port()
	}
	c1TCP, c2TCP, rtmp := port(), port(), port()
	common := []string{"-queue.url", natsURL, "-queue.namespace", ns, "-secret", "every-component-alone-secret",
		"-log.level", "warn", "-gateway.rate_per_ip", "0", "-account.bcrypt_cost", "4", "-account.limits.register_per_ip_hour", "0",
		"-gateway.max_conns_per_ip", "0", "-comet.max_conns_per_ip", "0",
		"-comet.report_interval", "100ms", "-logic.count_interval", "200ms", "-job.window", "20ms",
		"-danmaku.rate", "1000", "-danmaku.burst", "1000", "-gift.initial_balance", "1000", "-banned_words", bannedE2E}
	common = append(common, extra...)
	for c, sc := range dbs {
		section := strings.ReplaceAll(c, "-", "_") // im-chat's settings are under im_chat.
		common = append(common, "-"+section+".store.driver", sc.Driver, "-"+section+".store.dsn", sc.DSN)
	}
	// No -peers.comets: the jobs find the comets through their reports (presence).
	peers := []string{"-peers.account", rpc["account"], "-peers.room", rpc["room"], "-peers.gift", rpc["gift"],
		"-peers.danmaku", rpc["danmaku"], "-peers.logic", rpc["logic"], "-peers.media", rpc["media"],
		"-peers.im_chat", rpc["im-chat"], "-peers.im_group", rpc["im-group"], "-peers.im_notice", rpc["im-notice"]}
	hosts := fmt.Sprintf("127.0.0.1:%s:%s,127.0.0.1:%s:%s", c1TCP, httpPort["comet1"], c2TCP, httpPort["comet2"])
	procs := []struct {
		name, components string
		args             []string
	}{
		{"account", "account", []string{"-grpc_addr", rpc["account"]}},
		{"logic", "logic", []string{"-grpc_addr", rpc["logic"]}},
		{"room", "room", []string{"-grpc_addr", rpc["room"], "-logic.hosts", hosts}},
		{"gift", "gift", []string{"-grpc_addr", rpc["gift"]}},
		{"danmaku", "danmaku", []string{"-grpc_addr", rpc["danmaku"]}},
		{"bff", "bff", []string{"-logic.hosts", hosts}},
		{"comet1", "comet", []string{"-grpc_addr", rpc["comet1"], "-comet.tcp_addr", "127.0.0.1:" + c1TCP}},
		{"comet2", "comet", []string{"-grpc_addr", rpc["comet2"], "-comet.tcp_addr", "127.0.0.1:" + c2TCP}},
		{"job1", "job", nil},
		{"job2", "job", nil},
		{"media", "media", []string{"-grpc_addr", rpc["media"], "-media.rtmp_addr", "127.0.0.1:" + rtmp}},
		{"im-chat", "im-chat", []string{"-grpc_addr", rpc["im-chat"]}},
		{"im-group", "im-group", []string{"-grpc_addr", rpc["im-group"]}},
		{"im-notice", "im-notice", []string{"-grpc_addr", rpc["im-notice"]}},
		{"gateway", "gateway", []string{"-gateway.upstreams", fmt.Sprintf(
			"account=http://127.0.0.1:%s,room=http://127.0.0.1:%s,gift=http://127.0.0.1:%s,danmaku=http://127.0.0.1:%s,bff=http://127.0.0.1:%s,media=http://127.0.0.1:%s,im-chat=http://127.0.0.1:%s,im-group=http://127.0.0.1:%s,im-notice=http://127.0.0.1:%s",
			httpPort["account"], httpPort["room"], httpPort["gift"], httpPort["danmaku"], httpPort["bff"], httpPort["media"], httpPort["im-chat"],
			httpPort["im-group"], httpPort["im-notice"])}},
	}
	a := &alone{procs: map[string]*testbin.Proc{}, dbs: dbs, roomURL: "http://127.0.0.1:" + httpPort["room"], front: Node{URL: "http://127.0.0.1:" + httpPort["gateway"],
		WSURL: "ws://127.0.0.1:" + httpPort["comet1"] + "/sub", TCPAddr: "127.0.0.1:" + c2TCP,
		RTMP: "rtmp://127.0.0.1:" + rtmp + "/live"}}
	for i, p := range procs {
		args := append([]string{"serve", "-components", p.components, "-data_dir", t.TempDir(), "-node", fmt.Sprint(i + 1),
			"-gateway.http_addr", "127.0.0.1:" + httpPort[p.name]}, p.args...)
		a.procs[p.name] = testbin.Start(t, p.name, bin, append(append(args, peers...), common...)...)
	}
	return a
}

// The core scenario with every component in its own process, each business component on a
// database of its own, reached by the others over gRPC only: account, room, gift, danmaku,
// bff, logic, two comets, two jobs sharing the push stream, and a gateway that forwards every
// route to the process that serves it. Each store holds its component's tables and no other.
func TestEveryComponentAlone(t *testing.T) {
	a := startAlone(t, "-im_chat.services", serviceFlag)
	dbs := a.dbs
	httpPort := map[string]string{"gateway": strings.TrimPrefix(a.front.URL, "http://127.0.0.1:")}
	ServicePresenceScenario(t, a.front) // first: it registers the first users
	CoreScenario(t, a.front)
	IMScenario(t, a.front)
	FollowScenario(t, a.front)
	ReplyScenario(t, a.front)
	// The BFF alone, its peers over gRPC, behind the gateway: still one room read per enter.
	id, tok := EnterScenario(t, a.front)
	require.EqualValues(t, 1, roomReadsPerEnter(t, a.front, a.roomURL, id, tok), "one room read per enter")

	// The wallet the gift debited lives in gift's store; account shows it through gift's gRPC.
	fan := register(t, Node{URL: "http://127.0.0.1:" + httpPort["gateway"]}, fmt.Sprintf("wallet%d", time.Now().UnixNano()%1e6))
	var me struct {
		Balance *int64 `json:"balance"`
	}
	code, _ := api(t, Node{URL: "http://127.0.0.1:" + httpPort["gateway"]}, "GET", "/api/me", fan.Token, nil, &me)
	require.Equal(t, 200, code)
	require.NotNil(t, me.Balance, "account reads the balance from the gift process")
	require.EqualValues(t, 1000, *me.Balance)

	want := map[string][]string{
		"account":   {"account_exp_applied", "follow_counts", "follows", "revoked_tokens", "users"},
		"room":      {"room_covers", "room_likes", "room_likes_applied", "room_settings", "rooms"},
		"gift":      {"gift_agg_offsets", "gift_anchor_scores", "gift_orders", "gift_rank", "gift_wallet_credits", "gift_wallets"},
		"danmaku":   {"danmaku_comments", "danmaku_mutes"},
		"im-chat":   {"im_blocks", "im_conversations", "im_messages", "im_sends", "im_service_assign", "im_settings", "im_timeline", "im_unread"},
		"im-group":  {"im_group_members", "im_group_messages", "im_group_sends", "im_groups"},
		"im-notice": {"im_notice_chunks", "im_notice_follows", "im_notice_inbox", "im_notice_like_events", "im_notice_likes", "im_notice_mentions", "im_notice_unread", "im_notices"},
	}
	for c, sc := range dbs {
		require.Equal(t, want[c], tables(t, sc), "%s's store holds its own tables only", c)
	}
}
