package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A per-route rule written into the config file (YAML) applies to the next request once the
// file is reloaded, and goes as soon as it is taken out again.
func TestFileChangeAppliesRouteLimit(t *testing.T) {
	n := startReloadNode(t, "gateway:\n  rate_per_ip: 0\n", 20*time.Millisecond)
	for range 5 {
		code, _ := n.call("GET", "/api/gifts", "", nil)
		require.Equal(t, 200, code)
	}
	n.write(`gateway:
  rate_per_ip: 0
  limits:
    - name: catalog
      match: GET /api/gifts
      scope: route
      rate: 0.001
      burst: 2
`)
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultApplied) == 1 }, reloadWait, 5*time.Millisecond)
	var codes []int
	var last string
	for range 3 {
		code, body := n.call("GET", "/api/gifts", "", nil)
		codes, last = append(codes, code), body
	}
	require.Equal(t, []int{200, 200, 429}, codes)
	require.Contains(t, last, `"reason":"route_limit"`)
	require.Contains(t, last, `"rule":"catalog"`)

	n.write("gateway:\n  rate_per_ip: 0\n  limits: [{name: catalog, match: GET /api/{, scope: route, rate: 1, burst: 1}]\n")
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultRefused) == 1 }, reloadWait, 5*time.Millisecond)
	code, _ := n.call("GET", "/api/gifts", "", nil)
	require.Equal(t, 429, code, "a bad rule is refused, the old one stays")

	n.write("gateway:\n  rate_per_ip: 0\n")
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultApplied) == 2 }, reloadWait, 5*time.Millisecond)
	code, body := n.call("GET", "/api/gifts", "", nil)
	require.Equal(t, 200, code, body)
	_, metrics := n.call("GET", "/metrics", "", nil)
	require.True(t, strings.Contains(metrics, `zhibo_gateway_limited_total{rule="catalog",scope="route"} 2`), "counted by rule and scope")
}

// A deny list edited in the config file applies without a restart: the client's address range
// is refused from the next request (403 denied_ip), and served again once taken out.
func TestFileChangeAppliesDenyList(t *testing.T) {
	n := startReloadNode(t, "gateway:\n  rate_per_ip: 0\n", 20*time.Millisecond)
	code, _ := n.call("GET", "/api/gifts", "", nil)
	require.Equal(t, 200, code)
	n.write("gateway:\n  rate_per_ip: 0\n  deny:\n    ips: [127.0.0.0/8]\n")
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultApplied) == 1 }, reloadWait, 5*time.Millisecond)
	code, body := n.call("GET", "/api/gifts", "", nil)
	require.Equal(t, 403, code)
	require.Contains(t, body, `"reason":"denied_ip"`)
	n.write("gateway:\n  rate_per_ip: 0\n")
	require.Eventually(t, func() bool { return n.reloads(triggerFile, resultApplied) == 2 }, reloadWait, 5*time.Millisecond)
	code, _ = n.call("GET", "/api/gifts", "", nil)
	require.Equal(t, 200, code)
}
