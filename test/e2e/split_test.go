package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
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
	ns := fmt.Sprintf("split%d", time.Now().UnixNano())
	// Registered first, so it runs after the processes are stopped.
	t.Cleanup(func() { deleteStreams(t, natsURL, ns+"_") })
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
	add("rest", "-components", "account,room,gift,danmaku", "-peers.logic", logicRPC,
		"-logic.hosts", fmt.Sprintf("127.0.0.1:%s:%s,127.0.0.1:%s:%s", c1TCP, c1HTTP, c2TCP, c2HTTP),
		"-gift.initial_balance", "1000", // wallets start empty by default; the scenarios send gifts from fresh accounts
		"-gateway.http_addr", "127.0.0.1:"+restHTTP)
	for _, o := range order {
		c.procs[o[0]] = testbin.Start(t, o[0], bin, o[1:]...)
	}
	c.rest = Node{URL: "http://127.0.0.1:" + restHTTP}
	return c
}

// deleteStreams removes the streams a test cluster created on the shared NATS server, and the
// streams behind its key-value buckets (KV_<name>, the leases). Each push stream reserves its
// max_bytes of the server's storage, so runs that left them behind would in time have new
// streams refused ("insufficient storage resources").
func deleteStreams(t *testing.T, url, prefix string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var doomed []string
	for name := range names.Name() {
		if strings.HasPrefix(name, prefix) || strings.HasPrefix(name, "KV_"+prefix) {
			doomed = append(doomed, name)
		}
	}
	if err := names.Err(); err != nil {
		t.Logf("cleanup: list streams: %v", err)
	}
	for _, name := range doomed {
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Logf("cleanup: delete stream %s: %v", name, err)
		}
	}
}

// The core scenario on a split cluster: the WebSocket viewer on comet 1, the TCP viewer on
// comet 2, logic, job and the business process each in their own process, over the real NATS.
func TestSplitCluster(t *testing.T) {
	c := startCluster(t)
	n := c.rest
	n.WSURL = c.comet1WS
	n.TCPAddr = c.comet2TCP
	CoreScenario(t, n)
}
