package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// tokens is a Verifier whose token "u<uid>" names the user uid.
type tokens struct{}

func (tokens) Verify(_ context.Context, tok string) (int64, error) {
	switch tok {
	case "u1":
		return 1, nil
	case "u2":
		return 2, nil
	}
	return 0, errors.New("bad token")
}

// VerifiesAtOnce: every token is judged from memory (httpx.PromptVerifier), but "slow", which
// stands for one the store must be asked about.
func (tokens) VerifiesAtOnce(tok string) bool { return tok != "slow" }

// gifts serves the routes the limit tests aim at.
type gifts struct{}

func (gifts) Register(mux *http.ServeMux) {
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"code":0}`)) }
	mux.HandleFunc("POST /api/rooms/{id}/gifts", ok)
	mux.HandleFunc("GET /api/rooms/{id}", ok)
	mux.HandleFunc("POST /api/login", ok)
}

func limitConfig(rules ...LimitRule) Config {
	cfg := edgeConfig()
	cfg.Limits = rules
	cfg.AdaptiveCPUThreshold = 800
	cfg.SharedLimitTimeout = 50 * time.Millisecond
	return cfg
}

func newLimitGateway(t *testing.T, cfg Config) (*Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: reg, Verifier: tokens{}, Routes: []Routes{gifts{}, route{}}})
	require.NoError(t, err)
	return g, reg
}

// answer is one request through h: the status, the Retry-After header and the envelope.
type answer struct {
	status     int
	retryAfter string
	code       int
	reason     string
	rule       string
}

func do(h http.Handler, method, path, token, ip string) answer {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if ip != "" {
		r.RemoteAddr = ip + ":1234"
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	a := answer{status: w.Code, retryAfter: w.Header().Get("Retry-After")}
	var env struct {
		Code int `json:"code"`
		Data struct {
			Reason string `json:"reason"`
			Rule   string `json:"rule"`
		} `json:"data"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &env)
	a.code, a.reason, a.rule = env.Code, env.Data.Reason, env.Data.Rule
	return a
}

// Each scope counts its own callers: route — everyone together; user — each uid, anonymous
// callers by IP; ip — each address. A refusal is 429 with Retry-After and the reason.
func TestRouteLimitScopes(t *testing.T) {
	g, reg := newLimitGateway(t, limitConfig(
		LimitRule{Name: "gifts", Match: "POST /api/rooms/{id}/gifts", Scope: ScopeUser, Rate: 0.001, Burst: 2},
		LimitRule{Name: "room", Match: "GET /api/rooms/{id}", Scope: ScopeRoute, Rate: 0.001, Burst: 3},
		LimitRule{Name: "login", Match: "POST /api/login", Scope: ScopeIP, Rate: 0.001, Burst: 1},
	))
	h := g.Handler()

	// user: two per uid, whatever the address; anonymous by address.
	for _, tok := range []string{"u1", "u2"} {
		for i := range 2 {
			require.Equal(t, 200, do(h, "POST", "/api/rooms/7/gifts", tok, "10.0.0."+string(rune('1'+i))).status)
		}
		a := do(h, "POST", "/api/rooms/8/gifts", tok, "10.0.0.9")
		require.Equal(t, answer{status: 429, retryAfter: a.retryAfter, code: -429, reason: "user_limit", rule: "gifts"}, a)
		require.NotEmpty(t, a.retryAfter)
	}
	require.Equal(t, 200, do(h, "POST", "/api/rooms/7/gifts", "", "10.0.1.1").status)
	require.Equal(t, 200, do(h, "POST", "/api/rooms/7/gifts", "", "10.0.1.1").status)
	require.Equal(t, "user_limit", do(h, "POST", "/api/rooms/7/gifts", "", "10.0.1.1").reason)
	require.Equal(t, 200, do(h, "POST", "/api/rooms/7/gifts", "", "10.0.1.2").status, "another address")

	// route: three for everyone together; other methods on the path are not counted.
	for i := range 3 {
		require.Equal(t, 200, do(h, "GET", "/api/rooms/"+string(rune('1'+i)), "", "10.0.2."+string(rune('1'+i))).status)
	}
	require.Equal(t, 200, do(h, "GET", "/api/ping", "", "10.0.2.1").status, "another route")
	a := do(h, "GET", "/api/rooms/5", "u1", "10.0.2.9")
	require.Equal(t, 429, a.status)
	require.Equal(t, "route_limit", a.reason)
	require.Equal(t, "route_limit", do(h, "HEAD", "/api/rooms/5", "", "10.0.2.8").reason, "GET matches HEAD")

	// ip: one per address, whoever signs in.
	require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.3.1").status)
	require.Equal(t, "ip_limit", do(h, "POST", "/api/login", "u1", "10.0.3.1").reason)
	require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.3.2").status)

	require.Equal(t, 3.0, testutil.ToFloat64(metric(t, reg, "gifts", "user")))
	require.Equal(t, 2.0, testutil.ToFloat64(metric(t, reg, "room", "route")))
	require.Equal(t, 1.0, testutil.ToFloat64(metric(t, reg, "login", "ip")))
}

func metric(t *testing.T, reg *prometheus.Registry, rule, scope string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != "zhibo_gateway_limited_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["rule"] == rule && labels["scope"] == scope {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

// The sustained rate holds: over a second at 20/s with a burst of 5, a caller gets about
// 25 requests through (the burst plus the refill), not more.
func TestRouteLimitRate(t *testing.T) {
	g, _ := newLimitGateway(t, limitConfig(LimitRule{Name: "room", Match: "GET /api/rooms/{id}", Scope: ScopeRoute, Rate: 20, Burst: 5}))
	h := g.Handler()
	start, passed := time.Now(), 0
	for time.Since(start) < time.Second {
		if do(h, "GET", "/api/rooms/1", "", "10.0.0.1").status == 200 {
			passed++
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	want := 5 + 20*elapsed
	require.InDelta(t, want, float64(passed), 2, "passed %d in %.2fs", passed, elapsed)
}

// A reload applies to the next request: a rule added, a rate lowered, a rule removed. A rule
// that stays keeps its buckets (no fresh burst for anyone).
func TestRouteLimitReload(t *testing.T) {
	cfg := limitConfig()
	g, _ := newLimitGateway(t, cfg)
	h := g.Handler()
	for range 5 {
		require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.0.1").status)
	}
	cfg.Limits = []LimitRule{{Name: "login", Match: "POST /api/login", Scope: ScopeIP, Rate: 0.001, Burst: 2}}
	require.NoError(t, g.Reload(cfg))
	require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.0.1").status)
	require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.0.1").status)
	require.Equal(t, 429, do(h, "POST", "/api/login", "", "10.0.0.1").status, "the new rule applies at once")

	cfg.Limits[0].Burst = 3 // same rule, bigger burst: the emptied bucket stays empty
	require.NoError(t, g.Reload(cfg))
	require.Equal(t, 429, do(h, "POST", "/api/login", "", "10.0.0.1").status, "no fresh burst on reload")
	require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.0.2").status)

	bad := cfg
	bad.Limits = []LimitRule{{Name: "x", Match: "POST /api/{", Scope: ScopeIP, Rate: 1, Burst: 1}}
	require.Error(t, g.Reload(bad), "a bad table is refused whole")
	require.Equal(t, 429, do(h, "POST", "/api/login", "", "10.0.0.1").status, "the old rules stay")

	cfg.Limits = nil
	require.NoError(t, g.Reload(cfg))
	require.Equal(t, 200, do(h, "POST", "/api/login", "", "10.0.0.1").status, "removed at once")
}

func TestRuleValidation(t *testing.T) {
	good := LimitRule{Name: "a", Match: "POST /api/rooms/{id}/gifts", Scope: ScopeUser, Rate: 1, Burst: 1}
	require.NoError(t, validateRules([]LimitRule{good}))
	for name, r := range map[string]LimitRule{
		"bad pattern": {Name: "a", Match: "GET /a/{", Scope: ScopeIP, Rate: 1, Burst: 1},
		"no pattern":  {Name: "a", Scope: ScopeIP, Rate: 1, Burst: 1},
		"bad scope":   {Name: "a", Match: "/api/", Scope: "room", Rate: 1, Burst: 1},
		"zero rate":   {Name: "a", Match: "/api/", Scope: ScopeIP, Burst: 1},
		"zero burst":  {Name: "a", Match: "/api/", Scope: ScopeIP, Rate: 1},
		"bad name":    {Name: "A b", Match: "/api/", Scope: ScopeIP, Rate: 1, Burst: 1},
	} {
		require.Error(t, validateRules([]LimitRule{r}), name)
	}
	require.ErrorContains(t, validateRules([]LimitRule{good, good}), "twice")
}

// The flag (and ZHIBO_GATEWAY_LIMITS) takes the list as JSON, unknown fields refused.
func TestLimitsFlag(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "")
	f := fs.Lookup("limits").Value
	require.NoError(t, f.Set(`[{"name":"g","match":"POST /api/rooms/{id}/gifts","scope":"user","rate":2,"burst":5}]`))
	require.Equal(t, []LimitRule{{Name: "g", Match: "POST /api/rooms/{id}/gifts", Scope: "user", Rate: 2, Burst: 5}}, c.Limits)
	require.Error(t, f.Set(`[{"name":"g","rat":2}]`))
	require.Equal(t, `[{"name":"g","match":"POST /api/rooms/{id}/gifts","scope":"user","rate":2,"burst":5}]`, f.String())
}
