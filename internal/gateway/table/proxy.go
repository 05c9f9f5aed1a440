package table

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"go.opentelemetry.io/otel/propagation"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// IdentityHeader carries the caller the gateway verified, signed, to the upstream.
const IdentityHeader = httpx.IdentityHeader

// proxyFor is what sends a route's requests to group g: the lean proxy for a group of plain
// http:// addresses, the ReverseProxy alone for the others.
func (rt *Router) proxyFor(name string, g *pool.Group) http.Handler {
	rp := rt.newProxy(name, g)
	if !g.Lean() || !rt.deps.Lean {
		return rp
	}
	return &leanProxy{rt: rt, g: g, rp: rp, log: rt.log, sign: rt.deps.Identity}
}

// newProxy is the reverse proxy of one group: the group picks the address (its RoundTrip),
// the hooks carry the route's rewrite, the signed identity, the trace and the pool mark, and
// feed the call's outcome to the route's breaker and fallback.
func (rt *Router) newProxy(name string, g *pool.Group) http.Handler {
	target := &url.URL{Scheme: "http", Host: name} // the group replaces the host per attempt
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			Prepare(pr, rt.deps.Identity)
			if cl := callOf(pr.In.Context()); cl != nil {
				cl.plan.apply(pr.Out)
			}
		},
		Transport:  g,
		BufferPool: rt.buffers,
		// No FlushInterval: answers of unknown length (video, server-sent events) are flushed
		// as they come by ReverseProxy itself; flushing every write of the others would cost a
		// write call each.
		ModifyResponse: func(resp *http.Response) error {
			cl := callOf(resp.Request.Context())
			if cl == nil {
				return nil
			}
			cl.status = resp.StatusCode
			if resp.StatusCode >= 500 && cl.route.replaces5xx() {
				return errUpstreamStatus // the fallback answers instead (ErrorHandler)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cl := callOf(r.Context())
			if cl == nil {
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
			cl.err = err
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				return // the caller went away: nobody to answer
			}
			rt.log.WarnContext(r.Context(), "upstream failed", "route", cl.route.Name, "path", r.URL.Path, "err", err)
			key := ""
			if cl.route.cache != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				key = cl.route.cache.key(r)
			}
			if c, ok := w.(*capture); ok {
				w = c.ResponseWriter // a fallback is not cached as the upstream's answer
			}
			rt.degrade(w, r, cl.route, key, reasonFor(err))
		},
	}
}

// Prepare sets what every request a gateway forwards carries: X-Forwarded-* with the client
// as this gateway found it (gateway.trusted_proxies), not the direct peer, so the upstream keys
// its limits on that address; the client's Host (upstreams build links from it); the trace, so
// the upstream's spans join the caller's; the pool mark as this gateway decided it, never as
// the client wrote it; and the caller this gateway identified, signed by sign (nil = none), in
// place of any X-Zhibo-Identity the client sent.
func Prepare(pr *httputil.ProxyRequest, sign func(uid int64) string) {
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-For", httpx.ClientIP(pr.In))
	pr.Out.Host = pr.In.Host
	obs.Inject(pr.In.Context(), propagation.HeaderCarrier(pr.Out.Header))
	elastic.SetHeader(pr.In.Context(), pr.Out.Header)
	pr.Out.Header.Del(IdentityHeader)
	if uid, ok := httpx.UID(pr.In.Context()); ok && sign != nil {
		pr.Out.Header.Set(IdentityHeader, sign(uid))
	}
}

// replaces5xx reports whether the route answers an upstream's 5xx with something better than
// the upstream's own answer: a static or cached fallback, or a stale answer.
func (ro *route) replaces5xx() bool {
	return ro.Degrade.Fallback == FallbackStatic || ro.Degrade.Fallback == FallbackCache ||
		(ro.cache != nil && ro.cache.stale > 0)
}

// capture remembers a streamed answer's status and tees its body into a buffer, up to limit
// (0 = no buffer: the status alone), for the cache.
type capture struct {
	http.ResponseWriter
	limit  int
	buf    bytes.Buffer
	status int
	over   bool
	wrote  bool
}

func (c *capture) WriteHeader(code int) {
	if !c.wrote {
		c.status, c.wrote = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if !c.over {
		if c.buf.Len()+len(b) > c.limit {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(b)
		}
	}
	return c.ResponseWriter.Write(b)
}

func (c *capture) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// heldWriter keeps a whole answer until it is known to be good.
type heldWriter struct {
	header http.Header
	status int
	wrote  bool
	buf    bytes.Buffer
}

func (h *heldWriter) Header() http.Header { return h.header }

func (h *heldWriter) WriteHeader(code int) {
	if !h.wrote {
		h.status, h.wrote = code, true
	}
}

func (h *heldWriter) Write(b []byte) (int, error) {
	h.wrote = true
	return h.buf.Write(b)
}

// buffers lends the proxies their copy buffers: without it each proxied answer allocates
// 32 KiB (two thirds of the bytes allocated per request).
type buffers struct{ p sync.Pool }

func newBuffers() *buffers {
	return &buffers{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *buffers) Get() []byte { return *(b.p.Get().(*[]byte)) }

func (b *buffers) Put(buf []byte) { b.p.Put(&buf) }
