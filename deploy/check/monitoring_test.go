package check

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// dashboardExprs returns every query of deploy/grafana/zhibo.json, by panel title.
func dashboardExprs(t *testing.T) map[string]string {
	raw, err := os.ReadFile("../grafana/zhibo.json")
	require.NoError(t, err)
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	require.NotEmpty(t, d.UID)
	out := map[string]string{}
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for i, tg := range p.Targets {
			out[fmt.Sprintf("%s #%d", p.Title, i+1)] = tg.Expr
		}
	}
	return out
}

// alertRules parses deploy/prometheus/alerts.yml as Prometheus does (rulefmt: unknown
// fields refused, every expression parsed, templates checked).
func alertRules(t *testing.T) []rulefmt.Rule {
	groups, errs := rulefmt.ParseFile("../prometheus/alerts.yml", false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	var out []rulefmt.Rule
	for _, g := range groups.Groups {
		out = append(out, g.Rules...)
	}
	require.NotEmpty(t, out)
	return out
}

// metricNames are the metric names an expression selects.
func metricNames(t *testing.T, expr string) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err, expr)
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			require.NotEmpty(t, name, "a selector without a metric name in %q", expr)
			names = append(names, name)
		}
		return nil
	})
	return names
}

// Every alert rule parses, has a severity and a runbook whose anchor is a heading of
// docs/operations.md; every dashboard query is valid PromQL.
func TestAlertsAndDashboardParse(t *testing.T) {
	ops, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(ops), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	for _, r := range alertRules(t) {
		require.NotEmpty(t, r.Alert, "recording rules are not expected here: %s", r.Record)
		require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], r.Alert)
		url := r.Annotations["runbook_url"]
		base, anchor, ok := strings.Cut(url, "#")
		require.True(t, ok && strings.HasSuffix(base, "/docs/operations.md"), "%s: runbook_url %q", r.Alert, url)
		require.True(t, anchors[anchor], "%s: docs/operations.md has no heading #%s", r.Alert, anchor)
		metricNames(t, r.Expr)
	}
	for name, e := range dashboardExprs(t) {
		_, err := parser.NewParser(parser.Options{}).ParseExpr(e)
		require.NoError(t, err, name)
	}
}

// githubAnchor is the id GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The dashboard and the alerts name only metrics a running node exports: a real zhibo (all
// in one, TLS on, gRPC served) with viewers, comments and a gift is scraped and every name
// they use must be among its families (histogram series by their family; up is Prometheus's).
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	natsURL := os.Getenv("ZHIBO_TEST_NATS_URL") // serving gRPC makes a node part of a cluster: a shared queue
	if natsURL == "" {
		t.Skip("ZHIBO_TEST_NATS_URL is not set (.ci/run sets it)")
	}
	bin := zhiboBinary(t)
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	httpAddr, tcpAddr, grpcAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "up", "-data_dir", filepath.Join(dir, "data"),
		"-gateway.http_addr", httpAddr, "-comet.tcp_addr", tcpAddr, "-grpc_addr", grpcAddr,
		"-queue.url", natsURL, "-queue.namespace", fmt.Sprintf("mon%d", time.Now().UnixNano()),
		"-gateway.tls_cert_file", cert, "-gateway.tls_key_file", key,
		"-gateway.rate_per_ip", "0", "-account.limits.register_per_ip_hour", "0", "-danmaku.rate", "0",
		"-account.bcrypt_cost", "4", "-log.level", "warn",
		// A route table entry, so the gateway's route and upstream families exist.
		"-gateway.groups", `[{"name":"mon","addrs":["http://127.0.0.1:9"]}]`,
		"-gateway.routes", `[{"name":"mon","match":"GET /mon/","upstream":"mon"}]`)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("zhibo output:\n%s", logs.String())
		}
	})
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(cert)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + httpAddr
	require.Eventually(t, func() bool {
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 100*time.Millisecond, "zhibo did not get ready")

	// Traffic: a gift, a comment (through the queue, the job and the comet) and a room read.
	anchor := call(t, hc, base, "POST", "/api/auth/register", "", `{"name":"mon_anchor","password":"password1"}`)
	fan := call(t, hc, base, "POST", "/api/auth/register", "", `{"name":"mon_fan","password":"password1"}`)
	room := call(t, hc, base, "POST", "/api/rooms", anchor["token"].(string), `{"title":"monitoring"}`)
	rid := int64(room["id"].(float64))
	call(t, hc, base, "POST", fmt.Sprintf("/api/rooms/%d/gifts", rid), fan["token"].(string), `{"gift_id":1,"num":1,"idempotency_key":"mon-1"}`)
	call(t, hc, base, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", rid), fan["token"].(string), `{"text":"hello"}`)
	call(t, hc, base, "GET", fmt.Sprintf("/api/rooms/%d", rid), "", "")
	// The route table's group has no one listening: the route answers degraded.
	resp, err := hc.Get(base + "/mon/x")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	var families map[string]bool
	require.Eventually(t, func() bool {
		families = scrape(t, hc, base+"/metrics")
		return families["zhibo_gift_orders_total"] && families["zhibo_job_push_latency_seconds"]
	}, 10*time.Second, 200*time.Millisecond)

	used := map[string][]string{}
	for name, e := range dashboardExprs(t) {
		for _, m := range metricNames(t, e) {
			used[m] = append(used[m], "dashboard: "+name)
		}
	}
	for _, r := range alertRules(t) {
		for _, m := range metricNames(t, r.Expr) {
			used[m] = append(used[m], "alert "+r.Alert)
		}
	}
	for m, where := range used {
		if m == "up" { // made by Prometheus for every scrape target
			continue
		}
		require.True(t, exported(families, m), "%s (used by %v) is not exported by zhibo", m, where)
	}
}

// exported reports whether a metric name is one of the families, a histogram's or summary's
// _bucket, _sum and _count series included.
func exported(families map[string]bool, name string) bool {
	if families[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base] {
			return true
		}
	}
	return false
}

func scrape(t *testing.T, hc *http.Client, url string) map[string]bool {
	resp, err := hc.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	out := map[string]bool{}
	for name := range fams {
		out[name] = true
	}
	return out
}

func call(t *testing.T, hc *http.Client, base, method, path, token, body string) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct {
		Code int            `json:"code"`
		Msg  string         `json:"message"`
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	require.Equal(t, 0, env.Code, "%s %s: %s", method, path, env.Msg)
	return env.Data
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile
}
