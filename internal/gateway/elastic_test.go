package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// A forwarded request carries the elastic mark exactly when this gateway holds it marked: a
// trusted proxy's mark is passed on, a client's is dropped, and a request marked here (the
// overflow of a route) gets the header.
func TestForwardCarriesTheElasticMarkFromTrustedProxiesOnly(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get(elastic.Header))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	spec := []byte(`{"paths":{"/api/things":{"get":{}}}}`)
	front := func(trusted []string) string {
		cfg := Config{HTTPAddr: "127.0.0.1:0", ReadHeaderTimeout: time.Second, RequestTimeout: time.Second,
			ShutdownTimeout: time.Second, TrustedProxies: trusted}
		g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(),
			Upstreams: []Upstream{{Name: "things", URL: u, OpenAPI: [][]byte{spec}}}})
		require.NoError(t, err)
		s := httptest.NewServer(g.Handler())
		t.Cleanup(s.Close)
		return s.URL
	}
	get := func(base, mark string) string {
		req, err := http.NewRequest("GET", base+"/api/things", nil)
		require.NoError(t, err)
		if mark != "" {
			req.Header.Set(elastic.Header, mark)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode)
		return string(b)
	}
	trusting, untrusting := front([]string{"127.0.0.1"}), front(nil)
	require.Equal(t, elastic.Value, get(trusting, elastic.Value), "from a trusted proxy")
	require.Empty(t, get(trusting, ""))
	require.Empty(t, get(trusting, "fixed"), "only the one value marks")
	require.Empty(t, get(untrusting, elastic.Value), "a client cannot pick its pool")

	// The proxy alone: the context decides, whatever the incoming header says.
	g, err := UpstreamGroup("things", u, obs.Discard(), nil)
	require.NoError(t, err)
	p := NewProxy("things", u, g, obs.Discard(), nil, nil)
	for _, c := range []struct {
		marked bool
		header string
		want   string
	}{{true, "", elastic.Value}, {false, elastic.Value, ""}, {true, elastic.Value, elastic.Value}} {
		r := httptest.NewRequest("GET", "/api/things", nil)
		if c.header != "" {
			r.Header.Set(elastic.Header, c.header)
		}
		if c.marked {
			r = r.WithContext(elastic.With(r.Context()))
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		require.Equal(t, c.want, w.Body.String(), "%+v", c)
	}
}
