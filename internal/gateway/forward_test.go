package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// The gateway forwards exactly the operations of a remote component's API description to
// its process, with the caller's path, query, host and trace; a route the description does
// not name is not forwarded; a process that does not answer gives 503 in the envelope.
func TestForwardsTheComponentsRoutes(t *testing.T) {
	for _, lane := range []bool{false, true} {
		t.Run(map[bool]string{false: "nethttp", true: "lane"}[lane], func(t *testing.T) { testForwards(t, lane) })
	}
}

// testForwards forwards with the ReverseProxy behind net/http's server, or (lane) with the
// lean client in the fast lane.
func testForwards(t *testing.T, lane bool) {
	type seen struct{ Method, Path, Query, Host, Trace, Forwarded string }
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host,
			r.Header.Get("traceparent"), r.Header.Get("X-Forwarded-For")}})
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	spec := []byte(`{"paths":{"/api/things/{id}":{"get":{},"delete":{}},"/api/things":{"post":{}}}}`)
	reg := prometheus.NewRegistry()
	cfg := Config{HTTPAddr: "127.0.0.1:0", ReadHeaderTimeout: time.Second, RequestTimeout: time.Second, ShutdownTimeout: time.Second,
		Lane: lane}
	dead, _ := url.Parse("http://127.0.0.1:1")
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: reg, Upstreams: []Upstream{
		{Name: "things", URL: u, OpenAPI: [][]byte{spec}},
		{Name: "gone", URL: dead, OpenAPI: [][]byte{[]byte(`{"paths":{"/api/gone":{"get":{}}}}`)}},
	}})
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	t.Cleanup(func() { _ = g.Stop(context.Background()) })

	do := func(method, path string) (int, http.Header, string) {
		req, err := http.NewRequest(method, base(g)+path, strings.NewReader(""))
		require.NoError(t, err)
		req.Host = "live.example"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	code, hdr, body := do("GET", "/api/things/7?x=1")
	require.Equal(t, 200, code)
	var env struct{ Data seen }
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	require.Equal(t, "GET", env.Data.Method)
	require.Equal(t, "/api/things/7", env.Data.Path)
	require.Equal(t, "x=1", env.Data.Query)
	require.Equal(t, "live.example", env.Data.Host)
	require.Equal(t, "127.0.0.1", env.Data.Forwarded)
	here, _ := obs.ParseTraceparent(hdr.Get("traceparent"))
	there, ok := obs.ParseTraceparent(env.Data.Trace)
	require.True(t, ok, "the component gets the trace")
	require.Equal(t, here.TraceID(), there.TraceID(), "one trace across the hop")

	code, _, _ = do("POST", "/api/things")
	require.Equal(t, 200, code)
	code, _, body = do("PUT", "/api/things/7")
	require.Equal(t, 404, code, "an operation the description does not name is not forwarded")
	require.Contains(t, body, `"code":-404`)
	code, _, body = do("GET", "/api/other")
	require.Equal(t, 404, code)
	require.Contains(t, body, `"code":-404`)

	code, _, body = do("GET", "/api/gone")
	require.Equal(t, 503, code)
	require.Contains(t, body, "gone is unavailable")
	require.EqualValues(t, 1, failures(t, reg, "gone"))
	served := counter(t, reg, "zhibo_gateway_lane_requests_total", nil)
	if lane {
		// The GET and the POST; the PUT the description does not name handed the client's
		// connection to net/http's server, which served the rest.
		require.EqualValues(t, 2, served)
	} else {
		require.Zero(t, served)
	}
}

// failures is zhibo_gateway_upstream_failures_total of one upstream.
func failures(t *testing.T, reg *prometheus.Registry, upstream string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "zhibo_gateway_upstream_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == upstream {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
