package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

func TestMergeOpenAPI(t *testing.T) {
	a := []byte(`{"paths":{"/a":{"get":{}}},"components":{"schemas":{"A":{"type":"object"}}}}`)
	b := []byte(`{"paths":{"/b":{"get":{}}},"components":{"schemas":{"A":{"type":"object"},"B":{}}}}`)
	doc, err := MergeOpenAPI(a, b)
	require.NoError(t, err)
	var got struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]any                        `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	require.NoError(t, json.Unmarshal(doc, &got))
	require.Equal(t, "3.1.0", got.OpenAPI)
	require.Len(t, got.Paths, 2)
	require.Contains(t, got.Components["schemas"], "B")
	require.Contains(t, got.Components["securitySchemes"], "bearer")

	_, err = MergeOpenAPI(a, a[:10])
	require.Error(t, err)
	_, err = MergeOpenAPI(a, []byte(`{"paths":{"/a":{}}}`))
	require.ErrorContains(t, err, "declared twice")
	_, err = MergeOpenAPI(a, []byte(`{"components":{"schemas":{"A":{"type":"string"}}}}`))
	require.ErrorContains(t, err, "differently")
}

type route struct{}

func (route) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"code":0}`)) })
}

func TestRateLimitAndFallbacks(t *testing.T) {
	cfg := Config{HTTPAddr: "127.0.0.1:0", ReadHeaderTimeout: time.Second, RequestTimeout: time.Second,
		ShutdownTimeout: time.Second, RatePerIP: 1, BurstPerIP: 3}
	web := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) })
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Routes: []Routes{route{}}, Web: web})
	require.NoError(t, err)
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	status := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := status("/some/page")
	require.Equal(t, 200, code)
	require.Equal(t, "page", body)
	code, body = status("/api/missing")
	require.Equal(t, 404, code)
	require.Contains(t, body, `"code":-404`)
	codes := []int{}
	for range 5 {
		c, _ := status("/api/ping")
		codes = append(codes, c)
	}
	require.Equal(t, []int{200, 200, 429, 429, 429}, codes, "burst of 3, one already spent on /api/missing")
	code, _ = status("/healthz") // not rate limited
	require.Equal(t, 200, code)
}
