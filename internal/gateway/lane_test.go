package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gateway/loop"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// A route-table request to a group of http:// addresses is served in the fast lane — on the
// event loops (gateway.loop) or a goroutine per connection (gateway.loop=false) — and
// forwarded by the lean proxy; the upstream sees exactly what it sees through net/http's
// server and the ReverseProxy (gateway.lane=false): the client's headers but the hop-by-hop
// ones, the gateway's X-Forwarded-*, the signed identity, never what the client forged; and
// the client gets the same answer.
func TestLaneForwardsAsTheFullServerDoes(t *testing.T) {
	const clientTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	seen := make(chan http.Header, 1)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		h.Set("X-Uri", r.RequestURI)
		if id := r.Header.Get(httpx.IdentityHeader); id != "" {
			h.Set(httpx.IdentityHeader, "present")
		}
		seen <- h
		w.Header().Set("Connection", "X-Up-Hop")
		w.Header().Set("X-Up-Hop", "1")
		w.Header().Set("X-Up", "kept")
		w.Header()["Set-Cookie"] = []string{"a=1", "b=2"}
		w.Header()["x-lower"] = []string{"as sent"}
		w.Header()["X-Empty"] = []string{""}
		w.Header().Set("X-Content-Type-Options", "nosniff") // the gateway sets it too: both go
		_, _ = io.WriteString(w, `{"code":0}`)
	}))
	defer back.Close()

	view := func(lane, loop bool) (http.Header, *http.Response, [2]float64) {
		cfg := edgeConfig()
		cfg.Lane, cfg.Loop = lane, loop
		cfg.Groups = []pool.Config{{Name: "back", Addrs: []string{back.URL}}}
		cfg.Routes = []table.Route{{Name: "r", Match: "GET /api/r/", Upstream: "back", Auth: table.AuthUser}}
		g, reg := startGateway(t, cfg, Deps{Verifier: tokens{}, Identities: signer(t), IsAdmin: isAdmin})
		req, err := http.NewRequest("GET", base(g)+"/api/r/a%2Fb?q=1&q=2", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer u2")
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "dropped")
		req.Header.Set("X-Keep", "kept")
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		req.Header.Set("X-Zhibo-Pool", "elastic")
		req.Header.Set(httpx.IdentityHeader, "forged")
		req.Header.Set("Traceparent", clientTrace)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		h := <-seen
		// One trace from the client through the gateway to the upstream: the upstream gets
		// the gateway's span, once, in the client's trace, and the answer names that span.
		require.Len(t, h["Traceparent"], 1, "lane %v, loop %v", lane, loop)
		up, ok := obs.ParseTraceparent(h.Get("Traceparent"))
		require.True(t, ok, h.Get("Traceparent"))
		require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", up.TraceID().String())
		require.NotEqual(t, "00f067aa0ba902b7", up.SpanID().String(), "the gateway's own span")
		require.Equal(t, h.Get("Traceparent"), resp.Header.Get("Traceparent"))
		for _, k := range []string{"Accept-Encoding", "User-Agent", "Traceparent"} {
			h.Del(k)
		}
		return h, resp, [2]float64{counter(t, reg, "zhibo_gateway_lane_requests_total", nil),
			counter(t, reg, "zhibo_gateway_loop_requests_total", nil)}
	}
	full, fullResp, n := view(false, false)
	require.Equal(t, [2]float64{0, 0}, n)
	lean, leanResp, n := view(true, false)
	require.Equal(t, [2]float64{1, 0}, n, "served in the lane")
	looped, loopResp, n := view(true, true)
	if loop.Available() {
		require.Equal(t, [2]float64{0, 1}, n, "served on the event loop")
	}

	require.Equal(t, "kept", lean.Get("X-Keep"))
	require.Empty(t, lean.Get("X-Hop"))
	require.Empty(t, lean.Get("Connection"))
	require.Equal(t, "127.0.0.1", lean.Get("X-Forwarded-For"))
	require.Empty(t, lean.Get("X-Zhibo-Pool"))
	require.Equal(t, "present", lean.Get(httpx.IdentityHeader))
	require.Equal(t, "/api/r/a%2Fb?q=1&q=2", lean.Get("X-Uri"))
	// The Host differs by the gateway's port alone.
	for _, k := range []string{"Host", "X-Forwarded-Host"} {
		full.Del(k)
		lean.Del(k)
		looped.Del(k)
	}
	fj, _ := json.Marshal(full)
	lj, _ := json.Marshal(lean)
	require.JSONEq(t, string(fj), string(lj))
	oj, _ := json.Marshal(looped)
	require.JSONEq(t, string(lj), string(oj), "the event loop forwards what the lane does")
	// The event loop writes the upstream's header lines as they came (lane.Writer.Forward),
	// the lane through an http.Header: the client reads the same headers.
	for _, k := range []string{"Date", "Traceparent"} { // the time, the gateway's span
		leanResp.Header.Del(k)
		loopResp.Header.Del(k)
	}
	require.Equal(t, leanResp.Header, loopResp.Header)
	require.Equal(t, []string{"a=1", "b=2"}, loopResp.Header["Set-Cookie"])
	require.Equal(t, []string{"as sent"}, loopResp.Header["X-Lower"])
	require.Len(t, loopResp.Header["X-Content-Type-Options"], 2)
	require.Equal(t, leanResp.Header.Get("X-Up"), loopResp.Header.Get("X-Up"))
	require.Empty(t, loopResp.Header.Get("X-Up-Hop"))
	require.Equal(t, leanResp.ContentLength, loopResp.ContentLength)
	require.Equal(t, leanResp.Header.Get("Content-Type"), loopResp.Header.Get("Content-Type"))

	require.Equal(t, "kept", leanResp.Header.Get("X-Up"))
	require.Empty(t, leanResp.Header.Get("X-Up-Hop"))
	require.Equal(t, fullResp.Header.Get("X-Content-Type-Options"), leanResp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, fullResp.ContentLength, leanResp.ContentLength)
}
