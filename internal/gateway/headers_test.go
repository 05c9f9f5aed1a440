package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecurityHeadersAndCORS(t *testing.T) {
	cfg := edgeConfig()
	cfg.FrameOptions = "DENY"
	cfg.CORSOrigins = []string{"https://app.example"}
	g, _ := startGateway(t, cfg, Deps{})
	base := "http://" + g.Addr().String()
	do := func(method, path, origin string, hdr ...string) *http.Response {
		req, err := http.NewRequest(method, base+path, strings.NewReader(`{"s":"x"}`))
		require.NoError(t, err)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}

	r := do("POST", "/api/echo", "")
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
	require.Empty(t, r.Header.Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"), "same origin: no CORS headers")

	// The allowed origin's preflight and request.
	r = do("OPTIONS", "/api/echo", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,content-type")
	require.Equal(t, http.StatusNoContent, r.StatusCode)
	require.Equal(t, "https://app.example", r.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization")
	r = do("POST", "/api/echo", "https://app.example")
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, "https://app.example", r.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.Header.Values("Vary"), "Origin")

	// Any other origin gets nothing that would let its page read the answer.
	r = do("OPTIONS", "/api/echo", "https://evil.example", "Access-Control-Request-Method", "POST")
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	r = do("POST", "/api/echo", "https://evil.example")
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))

	for _, bad := range []Config{
		func() Config { c := edgeConfig(); c.FrameOptions = "ALLOW-FROM x"; return c }(),
		func() Config { c := edgeConfig(); c.CORSOrigins = []string{"app.example"}; return c }(),
		func() Config { c := edgeConfig(); c.CORSOrigins = []string{"https://app.example/path"}; return c }(),
		func() Config { c := edgeConfig(); c.TLSCertFile = "x.pem"; return c }(),
	} {
		require.Error(t, bad.Validate())
	}
}
