package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Upstream is a component that runs in another process. The gateway forwards every route of
// the component's API description (its OpenAPI fragments) to the component's own HTTP
// address, so a client sees one API whichever process serves each part of it.
type Upstream struct {
	Name    string
	URL     *url.URL
	OpenAPI [][]byte
}

// forwardMethods are the operations of an OpenAPI path item that become routes.
var forwardMethods = []string{"get", "put", "post", "delete", "patch"}

// UpstreamGroup is the upstream group of a component process at target: one address, its
// /healthz probed, so a process that is down answers 503 at once instead of after a dial
// timeout; its requests, in-flight and health are in the upstream metrics under group
// "component:<name>". Start starts the probes.
func UpstreamGroup(name string, target *url.URL, log *slog.Logger, m *pool.Metrics) (*pool.Group, error) {
	return pool.New(pool.Config{Name: "component:" + name, Addrs: []string{target.String()},
		Health: pool.Health{Path: "/healthz"}}, log, m)
}

// forward registers on mux one route per operation of u's API description, each sent on to u
// through g. A failed upstream answers 503 in the usual envelope, counted by upstream.
// With lean, a component at a plain http:// address without a path is forwarded to with the
// lean client (table.NewLeanProxy), and its routes are served in the gateway's fast lane.
func forward(mux *http.ServeMux, u Upstream, g *pool.Group, log *slog.Logger, sign func(uid int64) string, failures *prometheus.CounterVec, lean bool) error {
	target := u.URL
	onFail := func() { failures.WithLabelValues(u.Name).Inc() }
	proxy := NewProxy(u.Name, target, g, log, sign, onFail)
	if lean && g.Lean() && (target.Path == "" || target.Path == "/") && target.RawQuery == "" {
		proxy = table.NewLeanProxy(g, sign, log, proxy, upstreamFailed(u.Name, log, onFail))
	}
	routes, err := operations(u.OpenAPI)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	if len(routes) == 0 {
		return fmt.Errorf("upstream %s: its API description has no routes", u.Name)
	}
	for _, r := range routes {
		mux.Handle(r, proxy)
	}
	log.Info("forwarding", "upstream", u.Name, "url", target.String(), "routes", len(routes))
	return nil
}

// NewProxy sends requests on to the component process at target, prepared as the route
// table's are (table.Prepare: client address, host, trace, pool mark, and the caller signed by
// sign, so the component need not check the token again; nil = no identity passed); a failed
// upstream answers 503 in the usual envelope (onFail counts it). transport sends the requests
// (an UpstreamGroup).
func NewProxy(name string, target *url.URL, transport http.RoundTripper, log *slog.Logger, sign func(uid int64) string, onFail func()) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			table.Prepare(pr, sign)
		},
		Transport:    transport,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: upstreamFailed(name, log, onFail),
	}
}

// upstreamFailed answers a request the component's process did not serve: 503 in the usual
// envelope, logged and counted (onFail; nil = not counted).
func upstreamFailed(name string, log *slog.Logger, onFail func()) func(w http.ResponseWriter, r *http.Request, err error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if onFail != nil {
			onFail()
		}
		log.WarnContext(r.Context(), "upstream failed", "upstream", name, "path", r.URL.Path, "err", err)
		httpx.WriteError(log, w, r, apierr.Unavailable.Withf("%s is unavailable", name).Wrap(err))
	}
}

// operations lists "METHOD /path/{var}" patterns, one per operation in the fragments.
func operations(fragments [][]byte) ([]string, error) {
	var out []string
	for _, f := range fragments {
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(f, &doc); err != nil {
			return nil, err
		}
		for path, item := range doc.Paths {
			for op := range item {
				if slices.Contains(forwardMethods, op) {
					out = append(out, strings.ToUpper(op)+" "+path)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
