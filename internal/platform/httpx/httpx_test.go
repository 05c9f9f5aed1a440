package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

type fakeVerifier map[string]int64

func (f fakeVerifier) Verify(_ context.Context, tok string) (int64, error) {
	if uid, ok := f[tok]; ok {
		return uid, nil
	}
	return 0, apierr.Unauthorized.Withf("token expired")
}

type req struct {
	Name string `json:"name"`
	Num  int    `json:"num"`
}

func newServer(t *testing.T) (*httptest.Server, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	log := obs.Discard()
	mux.Handle("POST /echo/{id}", Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		id, err := PathInt64(r, "id")
		if err != nil {
			return err
		}
		var body req
		if err := Decode(w, r, &body); err != nil {
			return err
		}
		uid, err := RequireUID(r)
		if err != nil {
			return err
		}
		return OK(w, map[string]any{"id": id, "uid": uid, "name": body.Name})
	}))
	mux.Handle("GET /boom", Handle(log, func(http.ResponseWriter, *http.Request) error {
		return errors.New("disk on fire")
	}))
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("bug") })
	h := Observe(log, NewMetrics(reg), Identify(fakeVerifier{"good": 7}, nil, mux))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, reg
}

func call(t *testing.T, srv *httptest.Server, method, path, tok, body string) (int, string, http.Header) {
	r, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestDecodeAndIdentity(t *testing.T) {
	srv, reg := newServer(t)
	code, body, hdr := call(t, srv, "POST", "/echo/5", "good", `{"name":"a","num":1}`)
	require.Equal(t, 200, code)
	require.JSONEq(t, `{"code":0,"message":"ok","data":{"id":5,"uid":7,"name":"a"}}`, body)
	_, ok := obs.ParseTraceparent(hdr.Get("traceparent"))
	require.True(t, ok)

	cases := []struct {
		path, tok, body string
		status          int
		msg             string
	}{
		{"/echo/5", "bad", `{}`, 401, "token expired"},
		{"/echo/5", "", `{"name":"a"}`, 401, "not logged in"},
		{"/echo/x", "good", `{}`, 400, "path parameter id"},
		{"/echo/5", "good", `{"name":"a","extra":1}`, 400, `unknown field \"extra\"`},
		{"/echo/5", "good", `{"name":1}`, 400, `field \"name\" must be string`},
		{"/echo/5", "good", `{"name":"a"`, 400, "truncated"},
		{"/echo/5", "good", `{"name":"a"} {}`, 400, "single JSON object"},
		{"/echo/5", "good", ``, 400, "empty"},
		{"/echo/5", "good", `[1]`, 400, "JSON object"},
		{"/echo/5", "good", `{"name":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "larger than"},
	}
	for _, c := range cases {
		code, body, _ := call(t, srv, "POST", c.path, c.tok, c.body)
		require.Equal(t, c.status, code, c.body)
		require.Contains(t, body, c.msg, c.body)
		require.NotContains(t, body, `"code":0`)
	}
	// The route label is the mux pattern even though Identify ran in between.
	require.Equal(t, 1.0, counter(t, reg, "POST /echo/{id}", "200"))
	require.Equal(t, 1.0, counter(t, reg, "POST /echo/{id}", "413"))
}

func counter(t *testing.T, reg *prometheus.Registry, route, status string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "zhibo_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["route"] == route && l["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestInternalErrorsAndPanicsAre500(t *testing.T) {
	srv, _ := newServer(t)
	code, body, _ := call(t, srv, "GET", "/boom", "", "")
	require.Equal(t, 500, code)
	require.NotContains(t, body, "disk on fire") // causes are logged, not shown
	code, _, _ = call(t, srv, "GET", "/panic", "", "")
	require.Equal(t, 500, code)
}
