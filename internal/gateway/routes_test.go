package gateway

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// whoami answers with the caller the process identified.
type whoami struct{}

func (whoami) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		uid, _ := httpx.UID(r.Context())
		_, _ = fmt.Fprintf(w, `{"uid":%d}`, uid)
	})
}

func signer(t *testing.T) *token.Signer {
	s, err := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return s
}

func isAdmin(uid int64) bool { return uid == 1 }

// call sends one request with a bearer token ("" = none) and returns the status and body.
func call(t *testing.T, method, url, tok, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func base(g *Service) string { return "http://" + g.Addr().String() }

func TestRouteTablePassesASignedIdentityTheUpstreamTrusts(t *testing.T) {
	s := signer(t)
	// The upstream is another zhibo process: it trusts the identity, not a second token check.
	back, _ := startGateway(t, edgeConfig(), Deps{Identities: s, Routes: []Routes{whoami{}}})
	cfg := edgeConfig()
	cfg.Groups = []pool.Config{{Name: "back", Addrs: []string{base(back)}}}
	cfg.Routes = []table.Route{{Name: "who", Match: "GET /api/whoami", Upstream: "back", Auth: table.AuthUser}}
	front, _ := startGateway(t, cfg, Deps{Verifier: tokens{}, Identities: s, IsAdmin: isAdmin})

	code, body := call(t, "GET", base(front)+"/api/whoami", "u2", "")
	require.Equal(t, 200, code)
	require.JSONEq(t, `{"uid":2}`, body)
	code, _ = call(t, "GET", base(front)+"/api/whoami", "", "")
	require.Equal(t, http.StatusUnauthorized, code)

	// Straight to the upstream: a forged identity names nobody; a signed one (another key) neither.
	other, err := token.NewSigner([]byte("another key of 16+ bytes!"))
	require.NoError(t, err)
	for _, forged := range []string{"2", other.SignIdentity(2, time.Now()), s.SignIdentity(2, time.Now().Add(-2*token.IdentityTTL))} {
		_, body = call(t, "GET", base(back)+"/api/whoami", "", "", httpx.IdentityHeader, forged)
		require.JSONEq(t, `{"uid":0}`, body)
	}
	_, body = call(t, "GET", base(back)+"/api/whoami", "", "", httpx.IdentityHeader, s.SignIdentity(7, time.Now()))
	require.JSONEq(t, `{"uid":7}`, body)
}

// sharedGateways are two gateways on one queue namespace, as two replicas of a cluster.
func sharedGateways(t *testing.T, cfg Config, upstream *Service) (a, b *Service) {
	url := queuetest.URL(t)
	ns := queuetest.Namespace(t, url, "routes")
	gs := make([]*Service, 2)
	for i := range gs {
		q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: ns}, t.TempDir(), obs.Discard())
		require.NoError(t, err)
		t.Cleanup(q.Close)
		shared, err := table.OpenShared(context.Background(), q, obs.Discard())
		require.NoError(t, err)
		gs[i], _ = startGateway(t, cfg, Deps{Verifier: tokens{}, IsAdmin: isAdmin, Tables: shared})
	}
	return gs[0], gs[1]
}

func TestOperatorTableIsSharedSwitchedAndDropped(t *testing.T) {
	back, _ := startGateway(t, edgeConfig(), Deps{Routes: []Routes{whoami{}}})
	cfg := limitConfig()
	cfg.Routes = []table.Route{{Name: "from-config", Match: "GET /cfg", Upstream: table.Local}}
	a, b := sharedGateways(t, cfg, back)

	opTable := fmt.Sprintf(`{"groups":[{"name":"back","addrs":[%q]}],
		"routes":[{"name":"who","match":"GET /who","upstream":"back","rewrite":[{"path":"/api/whoami"}],
		"degrade":{"fallback":"static","status":200,"body":"{\"uid\":-1}"}}]}`, base(back))

	// Only admins; a malformed table changes nothing.
	code, _ := call(t, "PUT", base(a)+"/api/admin/gateway/routes", "u2", opTable)
	require.Equal(t, http.StatusForbidden, code)
	for _, bad := range []string{`{"routes":[`, `{"routes":[],"extra":1}`, `{"routes":[{"name":"x","match":"GET /x","upstream":"nowhere"}]}`,
		`{"routes":[]} {}`, `{"routes":[{"name":"x","match":"GET /x","upstream":"local","rewrite":[{"set_header":{"X-A":"a\r\nB: c"}}]}]}`,
		strings.Repeat(" ", maxTableBody+1)} {
		code, body := call(t, "PUT", base(a)+"/api/admin/gateway/routes", "u1", bad)
		require.Equal(t, http.StatusBadRequest, code, body)
	}
	status := func(g *Service) tableStatus {
		code, body := call(t, "GET", base(g)+"/api/admin/gateway/routes", "u1", "")
		require.Equal(t, 200, code, body)
		var env struct{ Data tableStatus }
		require.NoError(t, json.Unmarshal([]byte(body), &env))
		return env.Data
	}
	require.Equal(t, "config", status(a).Source)

	code, body := call(t, "PUT", base(a)+"/api/admin/gateway/routes", "u1", opTable)
	require.Equal(t, 200, code, body)
	for _, g := range []*Service{a, b} { // the other replica follows through the queue
		require.Eventually(t, func() bool {
			c, body := call(t, "GET", base(g)+"/who", "", "")
			return c == 200 && strings.Contains(body, `"uid":0`)
		}, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, "operator", status(g).Source)
	}

	code, _ = call(t, "PUT", base(a)+"/api/admin/gateway/routes/nope/off", "u1", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = call(t, "PUT", base(b)+"/api/admin/gateway/routes/who/off", "u1", "")
	require.Equal(t, 200, code)
	require.Eventually(t, func() bool { _, body := call(t, "GET", base(a)+"/who", "", ""); return body == `{"uid":-1}` },
		10*time.Second, 20*time.Millisecond)
	code, _ = call(t, "DELETE", base(a)+"/api/admin/gateway/routes/who/off", "u1", "")
	require.Equal(t, 200, code)
	require.Eventually(t, func() bool {
		_, body := call(t, "GET", base(b)+"/who", "", "")
		return strings.Contains(body, `"uid":0`)
	},
		10*time.Second, 20*time.Millisecond)

	// A config reload while the operator's table is in force changes the config's, which is
	// in force again once the operator's is dropped.
	next := cfg
	next.Routes = []table.Route{{Name: "reloaded", Match: "GET /reloaded", Upstream: table.Local,
		Degrade: table.Degrade{Fallback: table.FallbackStatic, Body: "r"}, Off: true}}
	require.NoError(t, a.Reload(next))
	_, body = call(t, "GET", base(a)+"/reloaded", "", "")
	require.NotEqual(t, "r", body)
	code, _ = call(t, "DELETE", base(a)+"/api/admin/gateway/routes", "u1", "")
	require.Equal(t, 200, code)
	require.Eventually(t, func() bool { _, body := call(t, "GET", base(a)+"/reloaded", "", ""); return body == "r" },
		10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return status(b).Source == "config" }, 10*time.Second, 20*time.Millisecond)
	code, _ = call(t, "GET", base(b)+"/who", "", "")
	require.Equal(t, http.StatusNotFound, code)
}

func TestGroupsAndRoutesFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs, "gateway.")
	require.NoError(t, fs.Parse([]string{
		"-gateway.groups", `[{"name":"bench","addrs":["http://127.0.0.1:9"]}]`,
		"-gateway.routes", `[{"name":"bench","match":"GET /bench/","upstream":"bench","auth":"user","timeout":"2s"}]`,
	}))
	require.Equal(t, "bench", c.Groups[0].Name)
	require.Equal(t, pool.Duration(2*time.Second), c.Routes[0].Timeout)
	require.NoError(t, c.Table().Validate())
	require.Error(t, fs.Parse([]string{"-gateway.routes", `[{"name":"x","unknown":1}]`}))
}

func TestGRPCClientsReachAGRPCGroupThroughTheTable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("zhibo.test", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)

	cfg := edgeConfig()
	cfg.Groups = []pool.Config{{Name: "grpc", Addrs: []string{"h2c://" + l.Addr().String()},
		Health: pool.Health{Path: "/zhibo.test", Interval: pool.Duration(50 * time.Millisecond)}}}
	cfg.Routes = []table.Route{{Name: "health", Match: "POST /grpc.health.v1.Health/", Upstream: "grpc"}}
	g, _ := startGateway(t, cfg, Deps{})

	conn, err := grpc.NewClient(g.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "zhibo.test"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nosuch"})
	require.Equal(t, codes.NotFound, status.Code(err), "the upstream's status comes back in the trailers")

	// HTTP/1 clients on the same port are as before.
	code, _ := call(t, "GET", base(g)+"/healthz", "", "")
	require.Equal(t, 200, code)
}

func TestForwardedComponentRoutesCarryTheSignedIdentity(t *testing.T) {
	s := signer(t)
	// The component's process checks no token itself (no Verifier): only the identity names the caller.
	back, _ := startGateway(t, edgeConfig(), Deps{Identities: s, Routes: []Routes{whoami{}}})
	u, err := url.Parse(base(back))
	require.NoError(t, err)
	spec := []byte(`{"openapi":"3.1.0","paths":{"/api/whoami":{"get":{}}}}`)
	front, _ := startGateway(t, edgeConfig(), Deps{Verifier: tokens{}, Identities: s,
		Upstreams: []Upstream{{Name: "who", URL: u, OpenAPI: [][]byte{spec}}}})

	code, body := call(t, "GET", base(front)+"/api/whoami", "u2", "")
	require.Equal(t, 200, code, body)
	require.JSONEq(t, `{"uid":2}`, body)
	_, body = call(t, "GET", base(front)+"/api/whoami", "", "", httpx.IdentityHeader, s.SignIdentity(1, time.Now().Add(-time.Hour)))
	require.JSONEq(t, `{"uid":0}`, body, "an expired identity from the client names nobody")
}
