package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// proc is one zhibo process of a split cluster.
type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
}

// freePort asks the kernel for a free loopback port. The port is released before the process
// binds it again; that tiny window is acceptable in a test.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stop ends the process: SIGTERM for a graceful stop, or SIGKILL for a crash.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	require.NoError(t, p.cmd.Process.Signal(sig))
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop", p.name)
	}
}

// start runs the process and waits until it printed its URL.
func (p *proc) start(t *testing.T, bin string) {
	p.cmd = exec.Command(bin, append([]string{"serve"}, p.args...)...)
	out, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = &prefixWriter{prefix: "[" + p.name + "] "}
	require.NoError(t, p.cmd.Start())
	cmd := p.cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "zhibo is up") {
				close(up)
			}
		}
	}()
	select {
	case <-up:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not come up", p.name)
	}
}

type prefixWriter struct{ prefix string }

func (w *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintln(os.Stderr, w.prefix+line)
	}
	return len(b), nil
}

// cluster is a split deployment: logic, two comets, a job and the business process.
type cluster struct {
	bin                string
	procs              map[string]*proc
	rest               Node
	comet1WS, comet2WS string
	comet1TCP          string
	comet2TCP          string
}

func startCluster(t *testing.T, natsURL string) *cluster {
	bin := buildBinary(t)
	ns := fmt.Sprintf("split%d", time.Now().UnixNano())
	common := []string{"-queue.url", natsURL, "-queue.namespace", ns, "-secret", "split-cluster-secret-0123",
		"-log.level", "warn", "-gateway.rate_per_ip", "0", "-account.bcrypt_cost", "4",
		"-comet.report_interval", "100ms", "-logic.count_interval", "200ms", "-job.window", "20ms",
		"-danmaku.rate", "1000", "-danmaku.burst", "1000"}
	port := func() string { return fmt.Sprint(freePort(t)) }
	logicRPC := "127.0.0.1:" + port()
	c1RPC, c1TCP, c1HTTP := "127.0.0.1:"+port(), port(), port()
	c2RPC, c2TCP, c2HTTP := "127.0.0.1:"+port(), port(), port()
	restHTTP := port()
	c := &cluster{procs: map[string]*proc{},
		comet1WS: "ws://127.0.0.1:" + c1HTTP + "/sub", comet2WS: "ws://127.0.0.1:" + c2HTTP + "/sub",
		comet1TCP: "127.0.0.1:" + c1TCP, comet2TCP: "127.0.0.1:" + c2TCP}
	add := func(name string, args ...string) {
		args = append(append(args, "-data_dir", t.TempDir(), "-node", fmt.Sprint(len(c.procs)+1)), common...)
		c.procs[name] = &proc{name: name, args: args}
	}
	add("logic", "-components", "logic", "-grpc_addr", logicRPC, "-gateway.http_addr", "127.0.0.1:"+port())
	add("comet1", "-components", "comet", "-grpc_addr", c1RPC, "-peers.logic", logicRPC,
		"-comet.tcp_addr", "127.0.0.1:"+c1TCP, "-gateway.http_addr", "127.0.0.1:"+c1HTTP)
	add("comet2", "-components", "comet", "-grpc_addr", c2RPC, "-peers.logic", logicRPC,
		"-comet.tcp_addr", "127.0.0.1:"+c2TCP, "-gateway.http_addr", "127.0.0.1:"+c2HTTP)
	add("job", "-components", "job", "-peers.comets", c1RPC+","+c2RPC, "-gateway.http_addr", "127.0.0.1:"+port())
	add("rest", "-components", "account,room,gift,danmaku", "-peers.logic", logicRPC,
		"-logic.hosts", fmt.Sprintf("127.0.0.1:%s:%s,127.0.0.1:%s:%s", c1TCP, c1HTTP, c2TCP, c2HTTP),
		"-gateway.http_addr", "127.0.0.1:"+restHTTP)
	for _, name := range []string{"logic", "comet1", "comet2", "job", "rest"} {
		c.procs[name].start(t, bin)
	}
	c.rest = Node{URL: "http://127.0.0.1:" + restHTTP}
	c.bin = bin
	return c
}

// The core scenario on a split cluster: the WebSocket viewer on comet 1, the TCP viewer on
// comet 2, logic, job and the business process each in their own process, over the real NATS.
func TestSplitCluster(t *testing.T) {
	url := os.Getenv("ZHIBO_TEST_NATS_URL")
	if url == "" {
		t.Skip("ZHIBO_TEST_NATS_URL not set: split-cluster test skipped")
	}
	c := startCluster(t, url)
	n := c.rest
	n.WSURL = c.comet1WS
	n.TCPAddr = c.comet2TCP
	CoreScenario(t, n)
}
