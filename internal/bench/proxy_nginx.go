package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// nginxConf is the generated nginx configuration: a master with one worker per core, the
// upstream behind a keep-alive pool, nothing logged per request, every path under the run's
// temporary directory (so it runs without root). keepalive_requests is raised on both sides
// from nginx's 1000, which would close the client and upstream connections every 1000
// requests, as zhibo's gateway (Go's net/http) never does.
const nginxConf = `daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 100000000;
    upstream bench {
        server %[2]s;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen %[3]s;
        location /bench/ {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// nginxVersion is what `nginx -v` says ("nginx/1.22.1"), or an error when bin does not run.
func nginxVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "-v").CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return "", fmt.Errorf("%s -v: %w", bin, err)
	}
	s := strings.TrimSpace(string(out))
	if _, v, ok := strings.Cut(s, "version: "); ok {
		return v, nil
	}
	return s, nil
}

// startNginx runs nginx in front of upstream on a free loopback port with nginxConf in dir.
// nginx cannot report a port it chose, so one is picked up front (a listener on :0, closed);
// should another process take it in between, nginx fails to bind and the next one is tried.
func startNginx(ctx context.Context, bin, dir, upstream string) (*ProxyProc, error) {
	var last error
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		p, err := startNginxOn(ctx, bin, dir, upstream, addr)
		if err == nil {
			return p, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func startNginxOn(ctx context.Context, bin, dir, upstream, addr string) (*ProxyProc, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstream, addr), 0o644); err != nil {
		return nil, err
	}
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", errLog)
	childAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	stop, exited := stopper(cmd)
	p := &ProxyProc{Addr: addr, PID: cmd.Process.Pid, Stop: stop}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		var why error
		select {
		case <-exited:
			why = errors.New("it exited")
		case <-ctx.Done():
			why = ctx.Err()
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				why = errors.New("it did not listen within 10s")
			}
		}
		if why != nil {
			_ = stop()
			return nil, fmt.Errorf("nginx on %s: %w; error log:\n%s", addr, why, tail(errLog, 2000))
		}
	}
}
