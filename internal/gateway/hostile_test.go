package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
)

// seenPaths is an upstream that records every path it was asked for.
type seenPaths struct {
	mu    sync.Mutex
	paths []string
}

func (s *seenPaths) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.paths = append(s.paths, r.URL.Path)
	s.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (s *seenPaths) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

// rawExchange writes raw bytes to the gateway and reads every answer until the connection
// closes or goes quiet; it returns the status lines.
func rawExchange(t *testing.T, addr net.Addr, raw string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	var statuses []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.Status)
	}
}

func TestHostileRequestsNeverReachTheUpstream(t *testing.T) {
	up := &seenPaths{}
	back := httptest.NewServer(up)
	defer back.Close()
	cfg := edgeConfig()
	cfg.MaxHeaderBytes = 8 << 10
	cfg.Groups = []pool.Config{{Name: "back", Addrs: []string{back.URL}}}
	cfg.Routes = []table.Route{{Name: "all", Match: "/x/", Upstream: "back"}}
	g, _ := startGateway(t, cfg, Deps{})

	// Smuggling: conflicting Content-Length and Transfer-Encoding, two Content-Lengths, an
	// obfuscated Transfer-Encoding. Each is refused whole; the request hidden in the body never
	// becomes a request of its own.
	hidden := "GET /x/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	for name, raw := range map[string]string{
		"CL and TE": "POST /x/a HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
		"two CLs":   "POST /x/a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n" + hidden,
		"TE xchunk": "POST /x/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n" + hidden,
	} {
		statuses := rawExchange(t, g.Addr(), raw)
		require.NotEmpty(t, statuses, name)
		if statuses[0] == "200 OK" {
			// Transfer-Encoding won over Content-Length (RFC 9112 6.3): the body ended at the
			// chunk terminator, and the connection was closed rather than read on.
			require.Len(t, statuses, 1, name)
		} else {
			require.True(t, strings.HasPrefix(statuses[0], "400") || strings.HasPrefix(statuses[0], "501"), "%s: %v", name, statuses)
		}
	}
	require.NotContains(t, up.list(), "/x/smuggled")

	// Oversized headers: 431, nothing sent on.
	before := len(up.list())
	big := fmt.Sprintf("GET /x/big HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 16<<10))
	statuses := rawExchange(t, g.Addr(), big)
	require.Equal(t, []string{"431 Request Header Fields Too Large"}, statuses)
	require.Len(t, up.list(), before)
}

func TestGarbageAndDeadUpstreamsDegrade(t *testing.T) {
	// An upstream that answers garbage instead of HTTP, and one that is gone.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "\x00\x01garbage that is not HTTP\r\n\r\n")
			_ = c.Close()
		}
	}()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	cfg := edgeConfig()
	cfg.Groups = []pool.Config{{Name: "garbage", Addrs: []string{"http://" + ln.Addr().String()}},
		{Name: "dead", Addrs: []string{deadURL}}}
	cfg.Routes = []table.Route{
		{Name: "garbage", Match: "GET /garbage", Upstream: "garbage", Breaker: table.Breaker{Failures: -1}},
		{Name: "dead", Match: "GET /dead", Upstream: "dead", Breaker: table.Breaker{Failures: -1},
			Degrade: table.Degrade{Fallback: table.FallbackStatic, Body: `{"code":0,"data":{"degraded":true}}`}},
	}
	g, _ := startGateway(t, cfg, Deps{})

	resp, err := http.Get(base(g) + "/garbage")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "upstream_error", resp.Header.Get("X-Zhibo-Degraded"))
	require.Contains(t, string(body), `"reason":"upstream_error"`)

	resp, err = http.Get(base(g) + "/dead")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, `{"code":0,"data":{"degraded":true}}`, string(body))
	require.NotEmpty(t, resp.Header.Get("X-Zhibo-Degraded"))
}
