package account

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// testConfig is the default config with cheap hashes and the given flags set.
func testConfig(t testing.TB, flags ...string) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("account", flag.ContinueOnError)
	c.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse(append([]string{"-bcrypt_cost", "4"}, flags...)))
	require.NoError(t, c.Validate())
	return c
}

type testEnv struct {
	t   *testing.T
	s   *Service
	clk *clock
	reg *prometheus.Registry
	url string
}

// startHTTP runs the account routes (and a /healthz) behind httpx.Identify on 127.0.0.1:0.
func startHTTP(t *testing.T, db *sqlstore.DB, cfg Config) *testEnv {
	t.Helper()
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	return startHTTPWith(t, db, cfg, signer, &clock{t: time.Now()}, obs.Discard())
}

func startHTTPWith(t *testing.T, db *sqlstore.DB, cfg Config, signer *token.Signer, clk *clock, log *slog.Logger) *testEnv {
	return startHTTPQueue(t, db, cfg, signer, clk, log, nil)
}

// startHTTPQueue is startHTTPWith with a queue (nil = none): the revocation broadcast.
func startHTTPQueue(t *testing.T, db *sqlstore.DB, cfg Config, signer *token.Signer, clk *clock, log *slog.Logger, q *queue.Queue) *testEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Deps{Logger: log, Registry: reg, DB: db, Signer: signer, Now: clk.now, Queue: q})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	mux := http.NewServeMux()
	s.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(httpx.Identify(s, nil, mux))
	t.Cleanup(srv.Close)
	return &testEnv{t: t, s: s, clk: clk, reg: reg, url: srv.URL}
}

type reply struct {
	status int
	header http.Header
	env    map[string]any
}

func (r reply) data() map[string]any {
	d, _ := r.env["data"].(map[string]any)
	return d
}

func (r reply) retryAfter(t testing.TB) int {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.header.Get("Retry-After"))
	return n
}

func (e *testEnv) do(method, path, tok, body string) reply {
	e.t.Helper()
	return doHTTP(e.t, e.url, method, path, tok, body)
}

func doHTTP(t testing.TB, base, method, path, tok, body string) reply {
	r, err := http.NewRequest(method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var env map[string]any
	require.NoError(t, json.Unmarshal(b, &env), "%s %s: %s", method, path, b)
	return reply{status: resp.StatusCode, header: resp.Header, env: env}
}

func creds(name, pw string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "password": pw})
	return string(b)
}

func (e *testEnv) register(name, pw string) string {
	e.t.Helper()
	r := e.do("POST", "/api/auth/register", "", creds(name, pw))
	require.Equal(e.t, 200, r.status, r.env)
	return r.data()["token"].(string)
}

func (e *testEnv) login(name, pw string) reply {
	e.t.Helper()
	return e.do("POST", "/api/auth/login", "", creds(name, pw))
}

func TestBcryptCostCapped(t *testing.T) {
	c := testConfig(t)
	c.BcryptCost = 31
	err := c.Validate()
	require.Error(t, err)
	require.Contains(t, err.Error(), "account.bcrypt_cost")
	require.Contains(t, err.Error(), "14")
	c.BcryptCost = 14
	require.NoError(t, c.Validate())
}

// TestRegisterFloodFromOneIP: registrations per IP per hour are limited, so a flood from one
// address does little password work, and what it does leaves the process responsive.
func TestRegisterFloodFromOneIP(t *testing.T) {
	e := startHTTP(t, sqltest.OpenSQLite(t), testConfig(t, "-bcrypt_cost", "8"))
	const flood = 60
	var wg sync.WaitGroup
	codes := make(chan int, flood)
	for i := range flood {
		wg.Go(func() {
			r := doHTTP(t, e.url, "POST", "/api/auth/register", "", creds(fmt.Sprintf("flood%d", i), "password1"))
			if r.status == 429 {
				require.GreaterOrEqual(t, r.retryAfter(t), 1)
			}
			codes <- r.status
		})
	}
	healthz := healthzDuring(t, e.url, &wg)
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.Equal(t, flood-10, count[429], "registrations per IP per hour (default 10): %v", count)
	require.Equal(t, 10, count[200]+count[503], "the admitted ten either registered or found bcrypt busy: %v", count)
	require.Positive(t, count[200], "%v", count)
	requireFast(t, healthz)
	// The next hour admits more.
	e.clk.t = e.clk.t.Add(time.Hour)
	e.register("afterwards", "password1")
}

// TestBcryptWorkBounded: with the per-IP limits off, a flood of password work runs at most
// bcrypt_concurrency hashes at once; the rest wait briefly and are answered 503, and /healthz
// stays fast meanwhile.
func TestBcryptWorkBounded(t *testing.T) {
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	logs := &syncBuffer{}
	e := startHTTPWith(t, sqltest.OpenSQLite(t), testConfig(t, "-bcrypt_cost", "8", "-bcrypt_concurrency", "1",
		"-bcrypt_wait", "200ms", "-limits.register_per_ip_hour", "0"), signer, &clock{t: time.Now()}, slog.New(slog.NewTextHandler(logs, nil)))
	const flood = 40
	var wg sync.WaitGroup
	codes := make(chan int, flood)
	for i := range flood {
		wg.Go(func() {
			r := doHTTP(t, e.url, "POST", "/api/auth/register", "", creds(fmt.Sprintf("busy%d", i), "password1"))
			if r.status == 503 {
				require.Equal(t, "1", r.header.Get("Retry-After"))
			}
			codes <- r.status
		})
	}
	healthz := healthzDuring(t, e.url, &wg)
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.Equal(t, flood, count[200]+count[503], "%v", count)
	require.Positive(t, count[503], "some requests found no bcrypt slot within bcrypt_wait: %v", count)
	require.Positive(t, count[200], "%v", count)
	require.Equal(t, int64(1), e.s.guard.peak.Load(), "at most bcrypt_concurrency hashes at once")
	require.Equal(t, float64(count[503]), testutil.ToFloat64(e.s.m.refused.WithLabelValues("busy")))
	require.NotContains(t, logs.String(), "level=ERROR", "refusals are counted, not logged one by one")
	requireFast(t, healthz)
}

// healthzDuring starts a /healthz request every 10 ms until the flood in wg is over (at
// least 20), each on its own: requests sent at a steady rate, not one after another, so a
// slow answer does not hide how many others would have been slow meanwhile.
func healthzDuring(t *testing.T, base string, wg *sync.WaitGroup) []time.Duration {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var (
		mu   sync.Mutex
		out  []time.Duration
		reqs sync.WaitGroup
	)
	for n := 0; ; n++ {
		select {
		case <-done:
			if n >= 20 {
				reqs.Wait()
				return out
			}
		default:
		}
		<-tick.C
		reqs.Go(func() {
			t0 := time.Now()
			resp, err := http.Get(base + "/healthz")
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			out = append(out, time.Since(t0))
			mu.Unlock()
		})
	}
}

// requireFast checks the median /healthz latency: ~1 ms idle; 25 ms is generous for a loaded
// 2-core machine, yet unbounded bcrypt work there takes it past 100 ms.
func requireFast(t *testing.T, lat []time.Duration) {
	t.Helper()
	slices.Sort(lat)
	median := lat[len(lat)/2]
	t.Logf("/healthz median %v, max %v", median, lat[len(lat)-1])
	require.Less(t, median, 25*time.Millisecond, "/healthz median during the flood")
}

// TestLoginBackoffAndLockout: after free_failures wrong passwords each attempt waits twice as
// long as the one before (429 with Retry-After, no bcrypt), then the account is locked; the
// right password is refused during the lockout and accepted after it; success resets.
func TestLoginBackoffAndLockout(t *testing.T) {
	e := startHTTP(t, sqltest.OpenSQLite(t), testConfig(t, "-limits.account_rate", "0", "-limits.free_failures", "3",
		"-limits.backoff", "1s", "-limits.lockout_failures", "6", "-limits.lockout", "10m"))
	logs := &syncBuffer{}
	e.s.guard.log = slog.New(slog.NewTextHandler(logs, nil))
	e.register("alice", "password1")
	for range 3 {
		require.Equal(t, 401, e.login("alice", "wrong-one").status)
	}
	for i, wait := range []int{1, 2, 4} {
		r := e.login("alice", "wrong-one")
		require.Equal(t, 429, r.status, "failure %d", 3+i)
		require.Equal(t, wait, r.retryAfter(t))
		r = e.login("alice", "password1") // the right password waits too
		require.Equal(t, 429, r.status)
		e.clk.t = e.clk.t.Add(time.Duration(wait) * time.Second)
		require.Equal(t, 401, e.login("alice", "wrong-one").status)
	}
	// The sixth failure locked the account.
	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.lockouts.WithLabelValues("account")))
	require.Contains(t, logs.String(), `level=WARN msg="account locked after failed logins" account=alice ip=127.0.0.1`)
	r := e.login("alice", "password1")
	require.Equal(t, 429, r.status)
	require.Equal(t, 600, r.retryAfter(t))
	e.clk.t = e.clk.t.Add(9 * time.Minute)
	r = e.login("alice", "password1")
	require.Equal(t, 429, r.status)
	require.Equal(t, 60, r.retryAfter(t))
	e.clk.t = e.clk.t.Add(time.Minute)
	require.Equal(t, 200, e.login("alice", "password1").status)
	// Success reset the count: three more free failures.
	for range 3 {
		require.Equal(t, 401, e.login("alice", "wrong-one").status)
	}
	require.Equal(t, 429, e.login("alice", "wrong-one").status)
	// Other accounts are not slowed by alice's failures.
	e.register("bob", "password1")
	require.Equal(t, 200, e.login("bob", "password1").status)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLoginPerIPFailures: one address guessing across many names is slowed down too.
func TestLoginPerIPFailures(t *testing.T) {
	e := startHTTP(t, sqltest.OpenSQLite(t), testConfig(t, "-limits.free_failures_ip", "5", "-limits.backoff", "1s"))
	for i := range 5 {
		require.Equal(t, 401, e.login(fmt.Sprintf("user%d", i), "wrong-one").status)
	}
	r := e.login("someone-else", "wrong-one")
	require.Equal(t, 429, r.status)
	require.Equal(t, 1, r.retryAfter(t))
}

// TestLoginRatePerIPAndAccount: the token buckets hold attempts even when they succeed (the
// registration counts as an attempt on its name).
func TestLoginRatePerIPAndAccount(t *testing.T) {
	e := startHTTP(t, sqltest.OpenSQLite(t), testConfig(t, "-limits.account_rate", "0.1", "-limits.account_burst", "3",
		"-limits.login_ip_rate", "1", "-limits.login_ip_burst", "4"))
	e.register("carol", "password1")
	e.register("dave", "password1")
	require.Equal(t, 200, e.login("carol", "password1").status)
	require.Equal(t, 200, e.login("carol", "password1").status)
	r := e.login("CAROL", "password1")
	require.Equal(t, 429, r.status, "per account")
	require.Equal(t, 10, r.retryAfter(t))
	require.Equal(t, 200, e.login("dave", "password1").status)
	require.Equal(t, 429, e.login("dave", "password1").status, "per IP: burst 4 spent")
	e.clk.t = e.clk.t.Add(10 * time.Second)
	require.Equal(t, 200, e.login("carol", "password1").status)
}

// TestLoginOneCheckPerAccount: parallel guesses on one account cannot all pass the failure
// count before the first is recorded: one check runs, the rest are refused at once.
func TestLoginOneCheckPerAccount(t *testing.T) {
	e := startHTTP(t, sqltest.OpenSQLite(t), testConfig(t, "-bcrypt_cost", "8", "-bcrypt_concurrency", "4",
		"-limits.login_ip_rate", "0", "-limits.account_rate", "0"))
	e.register("target", "password1")
	const guesses = 8
	var wg sync.WaitGroup
	codes := make(chan int, guesses)
	for i := range guesses {
		wg.Go(func() {
			codes <- doHTTP(t, e.url, "POST", "/api/auth/login", "", creds("target", fmt.Sprintf("guess-%d", i))).status
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	require.Equal(t, guesses, count[401]+count[429], "%v", count)
	require.Positive(t, count[429], "%v", count)
	require.Equal(t, float64(count[429]), testutil.ToFloat64(e.s.m.refused.WithLabelValues("concurrent")))
	require.Equal(t, float64(count[401]), testutil.ToFloat64(e.s.m.logins.WithLabelValues("failed")))
}
