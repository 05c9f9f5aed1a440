package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
)

// startNginx runs Debian's nginx with deploy/nginx/zhibo.conf (the documented example) in
// front of upstream, on a free loopback port; it returns nginx's base address.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx is not installed (apt-get install nginx-light; .ci/run installs it)")
		}
		bin = "/usr/sbin/nginx"
	}
	example, err := os.ReadFile("../../deploy/nginx/zhibo.conf")
	require.NoError(t, err)
	port := freePort(t)
	site := strings.NewReplacer("server 127.0.0.1:8080;", "server "+upstream+";",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port)).Replace(string(example))
	require.NotEqual(t, string(example), site)

	dir := t.TempDir()
	main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/zhibo.conf;
}
`, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zhibo.conf"), []byte(site), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644))
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", b)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "nginx did not listen")
	return addr
}

// from is an HTTP client whose connections come from the loopback address ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// statuses sends n GETs of url and returns their status codes.
func statuses(t *testing.T, c *http.Client, url string, n int, header http.Header) []int {
	t.Helper()
	var out []int
	for i := range n {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		if header != nil && header.Get("X-Forwarded-For") == "rotate" {
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	return out
}

func count(codes []int, code int) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

// Behind nginx with gateway.trusted_proxies set, the per-IP limits key on the real client: one
// client over its limit does not throttle another; a client that reaches zhibo directly cannot
// pick its key with a made-up X-Forwarded-For; WebSockets pass the proxy and are capped per client.
func TestBehindNginxLimitsPerRealClient(t *testing.T) {
	n := startAllInOne(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []string{"127.0.0.1"}
		c.Gateway.RatePerIP = 0.5 // one refill every 2 s: a test's few requests only see the burst
		c.Gateway.BurstPerIP = 3
		c.Gateway.MaxConnsPerIP = 0 // every connection to zhibo comes from nginx
		c.Comet.MaxConnsPerIP = 1
	})
	proxy := startNginx(t, strings.TrimPrefix(n.URL, "http://"))
	viaProxy := "http://" + proxy + "/api/rooms"

	a := statuses(t, from("127.0.0.2"), viaProxy, 6, nil)
	require.Equal(t, 3, count(a, http.StatusOK), "client A gets its burst: %v", a)
	require.Equal(t, 3, count(a, http.StatusTooManyRequests), "then 429: %v", a)
	b := statuses(t, from("127.0.0.3"), viaProxy, 3, nil)
	require.Equal(t, []int{200, 200, 200}, b, "client B is not throttled by A (both reach zhibo from nginx's address)")

	// A client reaching zhibo directly names another address in every request: ignored.
	spoof := statuses(t, from("127.0.0.4"), n.URL+"/api/rooms", 6, http.Header{"X-Forwarded-For": {"rotate"}})
	require.Equal(t, 3, count(spoof, http.StatusOK), "a spoofed X-Forwarded-For from an untrusted peer is ignored: %v", spoof)
	// ... and through the proxy, what it writes left of nginx's entry is not believed either.
	spoof = statuses(t, from("127.0.0.5"), viaProxy, 6, http.Header{"X-Forwarded-For": {"rotate"}})
	require.Equal(t, 3, count(spoof, http.StatusOK), "%v", spoof)

	// The WebSocket upgrade crosses nginx, and comet.max_conns_per_ip counts the real client.
	dial := func(ip string) error {
		d := ws.Dialer{Timeout: 3 * time.Second, NetDial: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
		conn, _, _, err := d.Dial(context.Background(), "ws://"+proxy+"/sub")
		if err == nil {
			t.Cleanup(func() { conn.Close() })
		}
		return err
	}
	require.NoError(t, dial("127.0.0.6"), "WebSocket through nginx")
	err := dial("127.0.0.6")
	require.Error(t, err, "a second WebSocket of the same client is over comet.max_conns_per_ip")
	require.Contains(t, err.Error(), "429")
	require.NoError(t, dial("127.0.0.7"), "another client's WebSocket is not")
}
