package media

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/room/roomtest"
)

// env is a started media service with in-memory rooms and its routes on a test server.
type env struct {
	s     *Service
	rooms *roomtest.Rooms
	rtmp  string // rtmp://127.0.0.1:PORT/live
	http  string
}

// defaults are the registered flag defaults, as `zhibo up` has them.
func defaults() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), "")
	return c
}

// start runs a media service on loopback with a short grace and key check, edited by edit.
func start(t testing.TB, edit func(*Config)) *env {
	cfg := defaults()
	cfg.RTMPAddr = "127.0.0.1:0"
	cfg.OfflineGrace = 500 * time.Millisecond
	cfg.KeyCheckInterval = 200 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	rooms := roomtest.New()
	s, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Rooms: rooms})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(asUser(mux))
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, s.Stop(context.Background()))
	})
	return &env{s: s, rooms: rooms, rtmp: "rtmp://" + s.RTMPAddr().String() + "/live", http: srv.URL}
}

// publishing waits until room publishes (or, with want false, no longer does).
func (e *env) publishing(t testing.TB, room int64, want bool) {
	require.Eventually(t, func() bool {
		_, ok := e.s.engine.Publishing()[room]
		return ok == want
	}, 10*time.Second, 20*time.Millisecond, "room %d publishing=%v", room, want)
}

// get fetches url with a short timeout and returns the status.
func get(t testing.TB, url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err, url)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// status reads GET /api/media/rooms/{id}.
func status(t testing.TB, base string, id int64) Status {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(fmt.Sprintf("%s/api/media/rooms/%d", base, id))
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct{ Data Status }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	return env.Data
}

// body fetches url (200 wanted) and returns its body.
func body(t testing.TB, url string) string {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err, url)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, url)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// testUID is the header asUser reads: the uid the request acts as (absent = a guest), in
// place of a session token and the gateway's httpx.Identify.
const testUID = "X-Test-Uid"

func asUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(testUID); v != "" {
			uid, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				http.Error(w, "bad "+testUID, http.StatusBadRequest)
				return
			}
			r = r.WithContext(httpx.WithUID(r.Context(), uid))
		}
		next.ServeHTTP(w, r)
	})
}

// getAs fetches url as uid (0 = a guest) and returns the status and body.
func getAs(t testing.TB, url string, uid int64) (int, []byte, http.Header) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if uid != 0 {
		req.Header.Set(testUID, strconv.FormatInt(uid, 10))
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err, url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b, resp.Header
}
