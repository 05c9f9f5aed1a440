package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// proxyUpstreamBody is the tiny upstream's answer: a fixed JSON envelope of about 100 bytes.
const proxyUpstreamBody = `{"code":0,"message":"ok","data":{"bench":"proxy","pad":"0123456789abcdef0123456789abcdef012345"}}`

// upstreamReadyPrefix starts the line the upstream prints on stdout once it listens.
const upstreamReadyPrefix = "upstream listening on "

// ProxyUpstream is the tiny upstream of `zhibo bench proxy`: GET /bench/... answers 200 with
// proxyUpstreamBody, anything else 404.
func ProxyUpstream() http.Handler {
	body := []byte(proxyUpstreamBody)
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/bench/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})
}

// serveUpstream is the hidden mode `zhibo bench proxy -upstream_only ADDR`: the upstream in
// its own process, so it does not share the generator's scheduler. It prints the address it
// bound and serves until ctx ends.
func serveUpstream(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ProxyUpstream(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	fmt.Fprintln(stdout, upstreamReadyPrefix+ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// ProxyProc is a server a proxy run started.
type ProxyProc struct {
	Addr string // host:port it listens on
	// PID is the process whose CPU (with its children's) is measured; 0 = it runs in the
	// generator's process and its CPU is not measured.
	PID  int
	Stop func() error
}

// ProxyStarters start the servers a proxy run measures. The command runs each as a child
// process (childStarters); a test can run them in its own process instead.
type ProxyStarters struct {
	// Upstream starts the tiny upstream (ProxyUpstream) on a free loopback port.
	Upstream func(ctx context.Context) (*ProxyProc, error)
	// Gateway starts zhibo with these components, configured by flags (zhibo serve's).
	Gateway func(ctx context.Context, components, flags []string) (*ProxyProc, error)
}

// childStarters runs the upstream and the gateway as child processes of exe (this zhibo
// binary), logging their stderr into files under dir.
func childStarters(exe, dir string) ProxyStarters {
	return ProxyStarters{
		Upstream: func(ctx context.Context) (*ProxyProc, error) {
			return startChild(ctx, filepath.Join(dir, "upstream.log"), upstreamReadyPrefix,
				exe, "bench", "proxy", "-upstream_only", "127.0.0.1:0")
		},
		Gateway: func(ctx context.Context, components, flags []string) (*ProxyProc, error) {
			args := append([]string{"serve", "--components=" + strings.Join(components, ",")}, flags...)
			return startChild(ctx, filepath.Join(dir, "gateway.log"), "zhibo is up: http://", exe, args...)
		},
	}
}

// startChild starts bin and waits (≤ 30 s) for the stdout line starting with ready, followed
// by the address it listens on. Its stderr goes to logPath, quoted in errors.
func startChild(ctx context.Context, logPath, ready, bin string, args ...string) (*ProxyProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	childAttrs(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop, _ := stopper(cmd, logf)
	p := &ProxyProc{PID: cmd.Process.Pid, Stop: stop}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), ready); ok {
				addrc <- strings.Fields(rest + " ")[0]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		close(addrc)
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case addr, ok := <-addrc:
		if ok {
			p.Addr = addr
			return p, nil
		}
		err = errors.New("it exited")
	case <-t.C:
		err = errors.New("it did not say it listens within 30s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = p.Stop()
	return nil, fmt.Errorf("%s %s: %w; its log:\n%s", filepath.Base(bin), strings.Join(args, " "), err, tail(logPath, 2000))
}

// stopper waits for cmd (then closes closers) and returns the function that ends it, with its
// children (nginx's workers): SIGTERM, then SIGKILL after 5 s; exited is closed once it has.
func stopper(cmd *exec.Cmd, closers ...io.Closer) (stop func() error, exited <-chan struct{}) {
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		for _, c := range closers {
			_ = c.Close()
		}
		close(done)
	}()
	return func() error {
		terminate(cmd)
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Second):
		}
		kill(cmd)
		<-done
		return nil
	}, done
}

// tail is the last n bytes of the file at path.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// treeCPU is the CPU time of process pid and its direct children (nginx's workers).
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	t, _ := readCPU(pid)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			ct, _ := readCPU(c)
			t += ct
		}
	}
	return t
}
