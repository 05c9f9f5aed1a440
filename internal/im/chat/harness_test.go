package chat_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/imtest"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/cache/cachetest"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/internal/push/pushtest"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// The fixture's users.
const (
	alice  int64 = 201
	bob    int64 = 202
	carol  int64 = 203
	nobody int64 = 999 // not a user
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t      *testing.T
	svc    *chat.Service
	pushes *pushtest.Recorder
	users  *accounttest.Fake
	clock  *clock
	srv    *httptest.Server
	reg    *prometheus.Registry
}

// newHarness runs the service on db and a queue of its own (the NATS of ZHIBO_TEST_NATS_URL
// under a fresh namespace, or an in-process server), with its HTTP routes on a test server.
func newHarness(t *testing.T, db *sqlstore.DB, tune func(*chat.Config)) *harness {
	return newHarnessOn(t, db, tune, nil)
}

// newHarnessHot is newHarness with the hot tier on a Redis: the one of ZHIBO_TEST_REDIS_ADDR
// under a fresh prefix, or a private redis-server.
func newHarnessHot(t *testing.T, db *sqlstore.DB, tune func(*chat.Config)) (*harness, *cache.Redis) {
	r := cachetest.Open(t, "imt")
	return newHarnessOn(t, db, tune, r), r
}

func newHarnessOn(t *testing.T, db *sqlstore.DB, tune func(*chat.Config), shared *cache.Redis) *harness {
	return newHarnessDeps(t, db, tune, shared, nil)
}

// newHarnessDeps is newHarnessOn with the service's dependencies changed by tuneDeps.
func newHarnessDeps(t *testing.T, db *sqlstore.DB, tune func(*chat.Config), shared *cache.Redis, tuneDeps func(*chat.Deps)) *harness {
	cfg := chat.DefaultConfig()
	cfg.Rate, cfg.Burst = 0, 0
	cfg.QueueBytes = 16 << 20 // a stream reserves its limit on the server
	if tune != nil {
		tune(&cfg)
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := imtest.Queue(t, "imt", log)
	gen, err := ids.New(1)
	require.NoError(t, err)
	h := &harness{t: t, pushes: &pushtest.Recorder{}, clock: &clock{now: time.Now()}, reg: prometheus.NewRegistry(),
		users: accounttest.New(map[int64]string{alice: "alice", bob: "bob", carol: "carol"})}
	deps := chat.Deps{Logger: log, Registry: h.reg, DB: db, IDs: gen, Queue: q,
		Accounts: h.users, Pusher: h.pushes, Words: textnorm.NewWords([]string{"spam"}), Now: h.clock.Now, Shared: shared}
	if tuneDeps != nil {
		tuneDeps(&deps)
	}
	h.svc, err = chat.New(cfg, deps)
	require.NoError(t, err)
	require.NoError(t, h.svc.Start(ctx))
	t.Cleanup(func() { _ = h.svc.Stop(ctx) })
	mux := http.NewServeMux()
	h.svc.Register(mux)
	h.srv = httptest.NewServer(httpx.Identify(h.users, nil, mux))
	t.Cleanup(h.srv.Close)
	return h
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// call sends a request as uid (0 = no token) and returns the status and the envelope's data.
func (h *harness) call(uid int64, method, path, body string) (int, json.RawMessage, http.Header) {
	h.t.Helper()
	var data json.RawMessage
	code, raw, hdr := imtest.API{T: h.t, URL: h.srv.URL}.Call(uid, method, path, body, &data)
	if code != http.StatusOK {
		return code, raw, hdr
	}
	return code, data, hdr
}

// send sends text from → to through HTTP and returns the accepted message.
func (h *harness) send(from, to int64, text, clientID string) chat.Message {
	h.t.Helper()
	body, _ := json.Marshal(chat.SendInput{To: to, Text: text, ClientID: clientID})
	code, data, _ := h.call(from, "POST", "/api/im/messages", string(body))
	require.Equal(h.t, 200, code, "%s", data)
	var m chat.Message
	require.NoError(h.t, json.Unmarshal(data, &m))
	return m
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	require.Eventually(h.t, cond, 10*time.Second, 5*time.Millisecond, what)
}

// delivered returns the IM events pushed so far, by command, each with the users it went to.
func (h *harness) delivered(cmd string) []delivery {
	var out []delivery
	for _, p := range h.pushes.All() {
		if p.Target != push.TargetUser {
			continue
		}
		for _, raw := range p.Msgs {
			var ev struct {
				Cmd  string          `json:"cmd"`
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(raw, &ev) == nil && ev.Cmd == cmd {
				out = append(out, delivery{uids: p.UIDs, data: ev.Data})
			}
		}
	}
	return out
}

type delivery struct {
	uids []int64
	data json.RawMessage
}

func (d delivery) message(t *testing.T) chat.Message {
	var m chat.Message
	require.NoError(t, json.Unmarshal(d.data, &m))
	return m
}

func jsonBody(v any) string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	return b.String()
}
