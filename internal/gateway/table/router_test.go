package table

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// backend is an upstream that records what it was sent.
type backend struct {
	*httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	last    *http.Request
	handler atomic.Pointer[http.HandlerFunc]
}

func newBackend(t testing.TB, name string) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.mu.Lock()
		b.last = r.Clone(r.Context())
		b.mu.Unlock()
		if h := b.handler.Load(); h != nil {
			(*h)(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"from":"`+name+`","path":"`+r.URL.Path+`","query":"`+r.URL.RawQuery+`"}`)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) set(h http.HandlerFunc) { b.handler.Store(&h) }

func (b *backend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func groupOf(name string, bs ...*backend) pool.Config {
	c := pool.Config{Name: name}
	for _, b := range bs {
		c.Addrs = append(c.Addrs, b.URL)
	}
	return c
}

// testGateway serves a router the way the gateway does: the caller's uid comes from the
// X-Test-UID header (standing in for the bearer token check), admins are uid 1.
type testGateway struct {
	*httptest.Server
	rt  *Router
	reg *prometheus.Registry
}

// leanPath says which client the routes forward with: the lean one (the default) or the
// ReverseProxy. TestMain runs every test of the package with each.
var leanPath = true

func TestMain(m *testing.M) {
	if code := m.Run(); code != 0 {
		os.Exit(code)
	}
	leanPath = false
	os.Exit(m.Run())
}

func newGateway(t testing.TB, tab Table, local http.Handler) *testGateway {
	t.Helper()
	reg := prometheus.NewRegistry()
	rt, err := New(tab, Deps{Logger: slog.New(slog.DiscardHandler), Registry: reg, Timeout: 2 * time.Second, Lean: leanPath,
		IsAdmin:  func(uid int64) bool { return uid == 1 },
		Identity: func(uid int64) string { return "signed-" + strconv.FormatInt(uid, 10) }})
	require.NoError(t, err)
	rt.Start()
	t.Cleanup(rt.Stop)
	if local == nil {
		local = http.NotFoundHandler()
	}
	h := rt.Handler(local)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Test-UID"); v != "" {
			uid, _ := strconv.ParseInt(v, 10, 64)
			r = r.WithContext(httpx.WithUID(r.Context(), uid))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &testGateway{Server: srv, rt: rt, reg: reg}
}

func (g *testGateway) get(t testing.TB, path string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestRouteSendsToItsGroupAndFallsThroughToLocal(t *testing.T) {
	a := newBackend(t, "a")
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "local "+r.URL.Path) })
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("a", a)},
		Routes: []Route{{Name: "a", Match: "GET /a/", Upstream: "a"}}}, local)

	code, _, body := g.get(t, "/a/x?k=v")
	require.Equal(t, 200, code)
	require.JSONEq(t, `{"from":"a","path":"/a/x","query":"k=v"}`, body)
	code, _, body = g.get(t, "/b")
	require.Equal(t, 200, code)
	require.Equal(t, "local /b", body)
	require.EqualValues(t, 1, a.hits.Load())
}

func TestRouteConditionsAndVersionRewrite(t *testing.T) {
	v6, old := newBackend(t, "v6"), newBackend(t, "old")
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("v6", v6), groupOf("old", old)},
		Routes: []Route{{Name: "rooms", Match: "GET /api/rooms/{id}", Upstream: "v6",
			When: []Cond{{Source: "header:X-Platform", Op: "ne", Value: "bot"}},
			Rewrite: []Rewrite{{
				When:     []Cond{{Source: "query:ver", Op: "lt", Value: "6.0"}},
				Path:     "/legacy/room/{id}",
				SetQuery: map[string]string{"compat": "1"}, DelQuery: []string{"ver"},
				SetHeader: map[string]string{"X-Compat": "old-app"},
				Upstream:  "old",
			}}}}}, nil)

	_, _, body := g.get(t, "/api/rooms/7?ver=6.1")
	require.JSONEq(t, `{"from":"v6","path":"/api/rooms/7","query":"ver=6.1"}`, body)
	_, _, body = g.get(t, "/api/rooms/7?ver=5.9.12")
	require.JSONEq(t, `{"from":"old","path":"/legacy/room/7","query":"compat=1"}`, body)
	require.Equal(t, "old-app", old.lastRequest().Header.Get("X-Compat"))
	_, _, body = g.get(t, "/api/rooms/7?ver=beta") // not a version: no rewrite
	require.Contains(t, body, `"from":"v6"`)
	code, _, _ := g.get(t, "/api/rooms/7", "X-Platform", "bot") // the route's condition fails
	require.Equal(t, http.StatusNotFound, code)
}

func TestRewriteEscapesWildcardsAndRefusesClimbing(t *testing.T) {
	a := newBackend(t, "a")
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("a", a)},
		Routes: []Route{{Name: "files", Match: "GET /f/{rest...}", Upstream: "a",
			Rewrite: []Rewrite{{Path: "/store/{rest}"}}}}}, nil)

	_, _, body := g.get(t, "/f/a%0D%0AX-Evil:%201/b")
	require.Contains(t, body, `"from":"a"`)
	got := a.lastRequest()
	require.Equal(t, "/store/a\r\nX-Evil: 1/b", got.URL.Path) // one path, escaped on the wire
	require.Empty(t, got.Header.Get("X-Evil"))
	before := a.hits.Load()
	code, _, _ := g.get(t, "/f/x/%2e%2e/%2e%2e/etc")
	require.NotEqual(t, 200, code)
	require.Equal(t, before, a.hits.Load())
}

func TestBadTablesAreRefusedWholeAndTheOldOneStays(t *testing.T) {
	a := newBackend(t, "a")
	good := Table{Groups: []pool.Config{groupOf("a", a)}, Routes: []Route{{Name: "a", Match: "GET /a/", Upstream: "a"}}}
	g := newGateway(t, good, nil)
	for name, bad := range map[string]Table{
		"unknown group":       {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: "nope"}}},
		"bad pattern":         {Routes: []Route{{Name: "x", Match: "GET x", Upstream: Local}}},
		"header injection":    {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: Local, Rewrite: []Rewrite{{SetHeader: map[string]string{"X-A": "1\r\nX-B: 2"}}}}}},
		"reserved header":     {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: Local, Rewrite: []Rewrite{{SetHeader: map[string]string{"X-Zhibo-Identity": "1"}}}}}},
		"duplicate name":      {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: Local}, {Name: "x", Match: "GET /y", Upstream: Local}}},
		"cache on POST":       {Routes: []Route{{Name: "x", Match: "POST /x", Upstream: Local, Cache: &Cache{TTL: pool.Duration(time.Second)}}}},
		"bad version":         {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: Local, When: []Cond{{Source: "query:v", Op: "lt", Value: "six"}}}}},
		"template not a wild": {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: Local, Rewrite: []Rewrite{{Path: "/y/{id}"}}}}},
		"elastic no qps":      {Groups: []pool.Config{groupOf("a", a), groupOf("b", a)}, Routes: []Route{{Name: "x", Match: "GET /x", Upstream: "a", Elastic: "b"}}},
		"cache fallback":      {Routes: []Route{{Name: "x", Match: "GET /x", Upstream: Local, Degrade: Degrade{Fallback: FallbackCache}}}},
	} {
		err := g.rt.Swap(bad)
		require.Error(t, err, name)
	}
	_, _, body := g.get(t, "/a/1")
	require.Contains(t, body, `"from":"a"`)
	require.Equal(t, good, g.rt.Table())
}

func TestAuthIsCheckedOnceAndTheIdentityPassedSigned(t *testing.T) {
	a := newBackend(t, "a")
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("a", a)}, Routes: []Route{
		{Name: "user", Match: "GET /u", Upstream: "a", Auth: AuthUser},
		{Name: "admin", Match: "GET /adm", Upstream: "a", Auth: AuthAdmin},
		{Name: "open", Match: "GET /o", Upstream: "a"},
	}}, nil)

	code, _, _ := g.get(t, "/u")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = g.get(t, "/adm", "X-Test-UID", "5")
	require.Equal(t, http.StatusForbidden, code)
	require.Zero(t, a.hits.Load())

	code, _, _ = g.get(t, "/u", "X-Test-UID", "5", IdentityHeader, "forged")
	require.Equal(t, 200, code)
	require.Equal(t, "signed-5", a.lastRequest().Header.Get(IdentityHeader))
	code, _, _ = g.get(t, "/adm", "X-Test-UID", "1")
	require.Equal(t, 200, code)
	// An anonymous caller's forged identity and pool mark never reach the upstream.
	g.get(t, "/o", IdentityHeader, "forged", elastic.Header, elastic.Value)
	require.Empty(t, a.lastRequest().Header.Get(IdentityHeader))
	require.Empty(t, a.lastRequest().Header.Get(elastic.Header))
}

func TestCacheVariesExpiresAndServesStaleWhileTheUpstreamFails(t *testing.T) {
	a := newBackend(t, "a")
	var n atomic.Int64
	a.set(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Query().Get("id")+"#"+strconv.FormatInt(n.Add(1), 10))
	})
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("a", a)}, Routes: []Route{{
		Name: "c", Match: "GET /c", Upstream: "a",
		Cache: &Cache{TTL: pool.Duration(200 * time.Millisecond), Vary: []string{"query:id"}, StaleIfError: pool.Duration(time.Hour)},
	}}}, nil)

	_, h, b1 := g.get(t, "/c?id=1&noise=x")
	require.Equal(t, "1#1", b1)
	require.Empty(t, h.Get("X-Zhibo-Cache"))
	_, h, b2 := g.get(t, "/c?id=1&noise=y") // noise is not a vary key
	require.Equal(t, "1#1", b2)
	require.Equal(t, "hit", h.Get("X-Zhibo-Cache"))
	_, _, b3 := g.get(t, "/c?id=2")
	require.Equal(t, "2#2", b3)

	require.Eventually(t, func() bool { _, _, b := g.get(t, "/c?id=1"); return b != "1#1" }, 5*time.Second, 50*time.Millisecond)

	a.set(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) })
	time.Sleep(250 * time.Millisecond) // past the TTL: only stale_if_error can answer
	code, h, b4 := g.get(t, "/c?id=2")
	require.Equal(t, 200, code)
	require.Equal(t, "2#2", b4)
	require.Equal(t, "stale", h.Get("X-Zhibo-Cache"))
	require.Equal(t, reasonUpstream, h.Get("X-Zhibo-Degraded"))
	code, h, _ = g.get(t, "/c?id=3") // nothing cached: 503 with the reason
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, reasonUpstream, h.Get("X-Zhibo-Degraded"))
}

func TestBreakerOpensDegradesAndRecovers(t *testing.T) {
	a := newBackend(t, "a")
	a.set(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 503) })
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("a", a)}, Routes: []Route{{
		Name: "b", Match: "GET /b", Upstream: "a",
		Breaker: Breaker{Failures: 3, OpenFor: pool.Duration(300 * time.Millisecond)},
		Degrade: Degrade{Fallback: FallbackStatic, Body: `{"degraded":true}`},
	}}}, nil)

	for range 3 {
		code, h, body := g.get(t, "/b")
		require.Equal(t, 200, code)
		require.Equal(t, `{"degraded":true}`, body)
		require.Equal(t, reasonUpstream, h.Get("X-Zhibo-Degraded"))
	}
	hits := a.hits.Load()
	_, h, _ := g.get(t, "/b")
	require.Equal(t, reasonOpen, h.Get("X-Zhibo-Degraded"))
	require.Equal(t, hits, a.hits.Load(), "an open circuit sends nothing upstream")
	require.Equal(t, []string{"b"}, g.rt.Status().Open)
	require.Equal(t, 1.0, testutil.ToFloat64(g.rt.m.open.WithLabelValues("b")))

	a.set(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "back") })
	require.Eventually(t, func() bool { _, _, b := g.get(t, "/b"); return b == "back" }, 5*time.Second, 50*time.Millisecond)
	require.Empty(t, g.rt.Status().Open)
}

func TestSwitchedOffAndTimedOutRoutes(t *testing.T) {
	a := newBackend(t, "a")
	release := make(chan struct{})
	a.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("a", a)}, Routes: []Route{
		{Name: "slow", Match: "GET /slow", Upstream: "a", Timeout: pool.Duration(100 * time.Millisecond), Breaker: Breaker{Failures: -1}},
		{Name: "off", Match: "GET /off", Upstream: "a", Off: true},
	}}, nil)

	start := time.Now()
	code, h, body := g.get(t, "/slow")
	require.Equal(t, http.StatusGatewayTimeout, code)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, reasonTimeout, h.Get("X-Zhibo-Degraded"))
	var env httpx.Envelope
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	require.Equal(t, map[string]any{"reason": reasonTimeout, "route": "slow"}, env.Data)

	hits := a.hits.Load()
	code, h, _ = g.get(t, "/off")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, reasonOff, h.Get("X-Zhibo-Degraded"))
	require.Equal(t, hits, a.hits.Load())
}

func TestOverflowSendsTheExcessToTheElasticGroupMarked(t *testing.T) {
	fixed, spare := newBackend(t, "fixed"), newBackend(t, "elastic")
	g := newGateway(t, Table{Groups: []pool.Config{groupOf("fixed", fixed), groupOf("spare", spare)}, Routes: []Route{{
		Name: "o", Match: "GET /o", Upstream: "fixed", Elastic: "spare", OverflowQPS: 100,
	}}}, nil)

	// 200 requests at once: the fixed group gets the bucket's burst, the rest overflow.
	for range 200 {
		code, _, _ := g.get(t, "/o")
		require.Equal(t, 200, code)
	}
	require.Greater(t, spare.hits.Load(), int64(100))
	require.Equal(t, elastic.Value, spare.lastRequest().Header.Get(elastic.Header))
	if fixed.hits.Load() > 0 {
		require.Empty(t, fixed.lastRequest().Header.Get(elastic.Header))
	}
	require.Equal(t, float64(spare.hits.Load()), testutil.ToFloat64(g.rt.m.requests.WithLabelValues("o", "elastic")))
}

func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tabs := []Table{
		{Groups: []pool.Config{groupOf("a", a)}, Routes: []Route{{Name: "r", Match: "GET /r", Upstream: "a"}}},
		{Groups: []pool.Config{groupOf("b", b)}, Routes: []Route{{Name: "r", Match: "GET /r", Upstream: "b", Timeout: pool.Duration(time.Second)}}},
	}
	g := newGateway(t, tabs[0], nil)
	stop := make(chan struct{})
	var failed, served atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(g.URL + "/r")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				served.Add(1)
			}
		})
	}
	for i := range 40 {
		require.NoError(t, g.rt.Swap(tabs[i%2]))
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	require.Greater(t, served.Load(), int64(40))
	require.Zero(t, failed.Load())
	require.Positive(t, a.hits.Load())
	require.Positive(t, b.hits.Load())
}

func TestLocalRouteDegradesWithItsFallback(t *testing.T) {
	var fail atomic.Bool
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "broken", 500)
			return
		}
		_, _ = io.WriteString(w, "fine "+r.URL.Path)
	})
	g := newGateway(t, Table{Routes: []Route{{
		Name: "l", Match: "GET /api/v1/", Upstream: Local,
		Rewrite: []Rewrite{{StripPrefix: "/api/v1", AddPrefix: "/api"}},
		Cache:   &Cache{TTL: pool.Duration(time.Millisecond)},
		Degrade: Degrade{Fallback: FallbackCache},
	}}}, local)

	_, _, body := g.get(t, "/api/v1/home")
	require.Equal(t, "fine /api/home", body)
	fail.Store(true)
	time.Sleep(5 * time.Millisecond)
	code, h, body := g.get(t, "/api/v1/home")
	require.Equal(t, 200, code)
	require.Equal(t, "fine /api/home", body)
	require.Equal(t, "fallback", h.Get("X-Zhibo-Cache"))
	code, _, body = g.get(t, "/api/v1/other")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.True(t, strings.Contains(body, reasonUpstream), body)
}

// TestOverflowSplitAtTwiceTheThreshold offers a route about twice its overflow_qps for two
// seconds: the fixed group gets the threshold's share (the rate over the run plus the bucket's
// burst) within 5 %, the elastic group the rest. A run whose offered load fell under the
// threshold measured the machine, not the split, and is run again (at most 3 runs).
func TestOverflowSplitAtTwiceTheThreshold(t *testing.T) {
	const (
		threshold = 200.0
		workers   = 8
		every     = 20 * time.Millisecond // per worker: 50 req/s, 400 in all
		run       = 2 * time.Second
	)
	for attempt := 1; ; attempt++ {
		fixed, spare := newBackend(t, "fixed"), newBackend(t, "elastic")
		g := newGateway(t, Table{Groups: []pool.Config{groupOf("fixed", fixed), groupOf("spare", spare)}, Routes: []Route{{
			Name: "o", Match: "GET /o", Upstream: "fixed", Elastic: "spare", OverflowQPS: threshold,
		}}}, nil)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				tick := time.NewTicker(every)
				defer tick.Stop()
				for range tick.C {
					if time.Since(start) >= run {
						return
					}
					resp, err := client.Get(g.URL + "/o")
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		f, e := float64(fixed.hits.Load()), float64(spare.hits.Load())
		want := threshold*elapsed + threshold/20
		t.Logf("run %d: %.2f s, offered %.0f/s: fixed %.0f (want %.0f ± 5 %%), elastic %.0f", attempt, elapsed, (f+e)/elapsed, f, want, e)
		if (f+e)/elapsed < 1.6*threshold && attempt < 3 {
			continue
		}
		require.InEpsilon(t, want, f, 0.05)
		require.Equal(t, e, testutil.ToFloat64(g.rt.m.requests.WithLabelValues("o", "elastic")))
		require.Equal(t, f, testutil.ToFloat64(g.rt.m.requests.WithLabelValues("o", "fixed")))
		return
	}
}
