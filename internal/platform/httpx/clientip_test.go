package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientBehindTrustedProxies(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", " 192.0.2.7 ", "", "::1"})
	require.NoError(t, err)
	for _, c := range []struct {
		name, peer string
		xff        []string
		realIP     string
		want       string
		trusted    bool
	}{
		{"no proxy", "203.0.113.5:4000", nil, "", "203.0.113.5", false},
		{"untrusted peer: its X-Forwarded-For is ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "198.51.100.9", "203.0.113.5", false},
		{"trusted peer names the client", "10.1.2.3:4000", []string{"198.51.100.1"}, "", "198.51.100.1", true},
		{"spoofed entries left of the first proxy are not believed", "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.1"}, "", "198.51.100.1", true},
		{"a chain of trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 192.0.2.7", "10.9.9.9"}, "", "198.51.100.1", true},
		{"every hop trusted: the leftmost", "10.1.2.3:4000", []string{"10.0.0.1, 10.0.0.2"}, "", "10.0.0.1", true},
		{"X-Real-IP without X-Forwarded-For", "192.0.2.7:80", nil, "198.51.100.4", "198.51.100.4", true},
		{"garbage stops at the last good hop", "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip, 10.0.0.5"}, "", "10.0.0.5", true},
		{"IPv6 loopback proxy, mapped client", "[::1]:80", []string{"::ffff:198.51.100.8"}, "", "198.51.100.8", true},
		{"no port", "203.0.113.5", nil, "", "203.0.113.5", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if c.realIP != "" {
			r.Header.Set("X-Real-IP", c.realIP)
		}
		require.Equal(t, c.want, p.Client(r), c.name)
		var got string
		var trusted bool
		TrustProxies(p, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got, trusted = ClientIP(r), FromTrustedProxy(r)
		})).ServeHTTP(httptest.NewRecorder(), r)
		require.Equal(t, c.want, got, c.name)
		require.Equal(t, c.trusted, trusted, c.name)
		require.Equal(t, c.trusted, p.Trusts(r), c.name)
	}

	none, err := ParseProxies(nil)
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	require.Equal(t, "10.1.2.3", none.Client(r), "no trusted proxies: headers ignored")
	require.False(t, FromTrustedProxy(r), "served without TrustProxies: no one is trusted")

	for _, bad := range []string{"10.0.0.0/33", "example.com", "1.2.3"} {
		_, err := ParseProxies([]string{bad})
		require.Error(t, err, bad)
	}
}
