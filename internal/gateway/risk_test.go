package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// auth serves the sensitive routes of account.
type auth struct{}

func (auth) Register(mux *http.ServeMux) {
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"code":0}`)) }
	mux.HandleFunc("POST /api/auth/login", ok)
	mux.HandleFunc("POST /api/auth/register", ok)
}

func riskGateway(t *testing.T, cfg Config) (*Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := New(cfg, Deps{Logger: obs.Discard(), Registry: reg, Verifier: tokens{}, Routes: []Routes{gifts{}, route{}, auth{}}})
	require.NoError(t, err)
	return g, reg
}

func withDevice(h http.Handler, method, path, device, ip string) answer {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = ip + ":1"
	if device != "" {
		r.Header.Set("X-Device-Id", device)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var env struct {
		Code int
		Data struct{ Reason string }
	}
	_ = json.Unmarshal(w.Body.Bytes(), &env)
	return answer{status: w.Code, code: env.Code, reason: env.Data.Reason}
}

// Deny lists: an address, a CIDR range (v4 and v6), a device id header and a uid are each
// refused with 403 and their reason; their neighbours are served; health stays reachable.
func TestDenyLists(t *testing.T) {
	cfg := limitConfig()
	cfg.Deny = DenyConfig{UIDs: []int64{2}, IPs: []string{"192.0.2.7", "10.1.0.0/16", "2001:db8::/32"},
		Devices: []string{"dev-bad"}, DeviceHeader: "X-Device-Id"}
	g, _ := riskGateway(t, cfg)
	h := g.Handler()
	for _, c := range []struct {
		ip, device, token, reason string
	}{
		{"192.0.2.7", "", "", reasonDeniedIP},
		{"10.1.200.3", "", "", reasonDeniedIP},
		{"::ffff:10.1.0.1", "", "", reasonDeniedIP},
		{"2001:db8:1::9", "", "", reasonDeniedIP},
		{"192.0.2.8", "dev-bad", "", reasonDeniedDevice},
		{"192.0.2.8", "", "u2", reasonDeniedUID},
		{"192.0.2.8", "dev-ok", "u1", ""},
		{"10.2.0.1", "", "", ""},
		{"2001:db9::1", "", "", ""},
	} {
		r := httptest.NewRequest("GET", "/api/ping", nil)
		r.RemoteAddr = "[" + c.ip + "]:1"
		if c.device != "" {
			r.Header.Set("x-device-id", c.device)
		}
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if c.reason == "" {
			require.Equal(t, 200, w.Code, "%+v", c)
			continue
		}
		require.Equal(t, 403, w.Code, "%+v", c)
		require.JSONEq(t, `{"code":-403,"message":"request refused","data":{"reason":"`+c.reason+`"}}`, w.Body.String())
	}
	require.Equal(t, 200, withDevice(h, "GET", "/healthz", "dev-bad", "10.1.0.1").status, "health is never denied")
	require.Equal(t, 4.0, testutil.ToFloat64(g.risk.denied.WithLabelValues(reasonDeniedIP)))
	require.Equal(t, 1.0, testutil.ToFloat64(g.risk.denied.WithLabelValues(reasonDeniedDevice)))
	require.Equal(t, 1.0, testutil.ToFloat64(g.risk.denied.WithLabelValues(reasonDeniedUID)))
}

// The deny lists reload without a restart: an address range and a device added are refused
// from the next request; taken out, served again. A bad list is refused whole.
func TestDenyListsReload(t *testing.T) {
	cfg := limitConfig()
	g, _ := riskGateway(t, cfg)
	h := g.Handler()
	require.Equal(t, 200, withDevice(h, "GET", "/api/ping", "", "10.9.9.9").status)
	cfg.Deny = DenyConfig{IPs: []string{"10.9.0.0/16"}, Devices: []string{"d1"}, DeviceHeader: "X-Device-Id"}
	require.NoError(t, g.Reload(cfg))
	require.Equal(t, reasonDeniedIP, withDevice(h, "GET", "/api/ping", "", "10.9.9.9").reason)
	require.Equal(t, reasonDeniedDevice, withDevice(h, "GET", "/api/ping", "d1", "10.8.0.1").reason)

	bad := cfg
	bad.Deny.IPs = []string{"10.9.0.0/99"}
	require.Error(t, g.Reload(bad))
	require.Equal(t, 403, withDevice(h, "GET", "/api/ping", "", "10.9.9.9").status, "the old list stays")

	cfg.Deny = DenyConfig{DeviceHeader: "X-Device-Id"}
	require.NoError(t, g.Reload(cfg))
	require.Equal(t, 200, withDevice(h, "GET", "/api/ping", "d1", "10.9.9.9").status)
}

// Velocity on login: 3 per minute per caller (anonymous: by address), 429 with reason velocity
// and a Retry-After of the time until the next one is allowed; other addresses, and other
// routes, are not affected; signed-in senders of gifts are counted by uid.
func TestVelocityOnLogin(t *testing.T) {
	cfg := limitConfig()
	cfg.Velocity = []VelocityRule{
		{Name: "login", Match: "POST /api/auth/login", Count: 3, Window: Span(time.Minute)},
		{Name: "gifts", Match: "POST /api/rooms/{id}/gifts", Count: 2, Window: Span(time.Hour)},
	}
	g, reg := riskGateway(t, cfg)
	h := g.Handler()
	for range 3 {
		require.Equal(t, 200, do(h, "POST", "/api/auth/login", "", "10.0.0.1").status)
	}
	a := do(h, "POST", "/api/auth/login", "", "10.0.0.1")
	require.Equal(t, 429, a.status)
	require.Equal(t, "velocity", a.reason)
	require.Equal(t, "login", a.rule)
	require.Equal(t, "20", a.retryAfter, "one login per 20 s refills")
	require.Equal(t, 200, do(h, "POST", "/api/auth/login", "", "10.0.0.2").status)
	require.Equal(t, 200, do(h, "POST", "/api/auth/register", "", "10.0.0.1").status)

	require.Equal(t, 200, do(h, "POST", "/api/rooms/1/gifts", "u1", "10.0.0.3").status)
	require.Equal(t, 200, do(h, "POST", "/api/rooms/2/gifts", "u1", "10.0.0.4").status)
	require.Equal(t, "velocity", do(h, "POST", "/api/rooms/3/gifts", "u1", "10.0.0.5").reason, "by uid, whatever the address")
	require.Equal(t, 200, do(h, "POST", "/api/rooms/3/gifts", "u2", "10.0.0.5").status)
	require.Equal(t, 1.0, testutil.ToFloat64(metric(t, reg, "login", "velocity")))
}
