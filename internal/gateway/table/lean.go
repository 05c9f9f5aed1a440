package table

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zhibo-live/zhibo/internal/gateway/lane"
	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// leanProxy forwards a route's requests to a group of plain http:// addresses with the group's
// lean HTTP/1.1 client (pool.Group.Exchange): the outgoing head is written straight from the
// incoming request, with what Prepare sets on the ReverseProxy path. Requests it does not
// take — protocol upgrades (WebSocket), and gRPC's (trailers) — go to the ReverseProxy, as do
// every request of a group with an https:// or h2c:// address.
type leanProxy struct {
	rt   *Router // nil: not a route's (NewLeanProxy)
	g    *pool.Group
	rp   http.Handler
	log  *slog.Logger
	sign func(uid int64) string
	// fail answers a request the upstream did not serve, when rt is nil.
	fail func(w http.ResponseWriter, r *http.Request, err error)
}

// NewLeanProxy forwards requests to g, a group of plain http:// addresses (g.Lean), with its
// lean client, prepared as Prepare prepares them (sign: the caller's identity, nil = none).
// Requests it does not take (Takes) go to full; a request the upstream did not serve is
// answered by fail.
func NewLeanProxy(g *pool.Group, sign func(uid int64) string, log *slog.Logger, full http.Handler, fail func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	return &leanProxy{g: g, rp: full, log: log, sign: sign, fail: fail}
}

// Takes reports whether the lean path serves r: the gateway's fast lane asks it.
func (p *leanProxy) Takes(r *http.Request) bool { return p.takes(r) }

// takes reports whether the lean path serves r.
func (p *leanProxy) takes(r *http.Request) bool {
	if len(r.Header["Upgrade"]) > 0 {
		return false
	}
	for _, te := range r.Header["Te"] {
		if strings.Contains(te, "trailers") {
			return false
		}
	}
	return true
}

func (p *leanProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cl := callOf(r.Context())
	if (cl == nil && p.rt != nil) || !p.takes(r) {
		p.rp.ServeHTTP(w, r)
		return
	}
	if cl == nil { // not a route's: nothing to rewrite, no route to degrade
		cl = &call{}
	}
	out := r
	if cl.plan.changes() {
		out = r.Clone(r.Context())
		cl.plan.apply(out)
	}
	hb := heads.Get().(*headBuf)
	defer heads.Put(hb)
	head := p.head(hb, out, cl)
	var body io.Reader
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = r.Body
	}
	idempotent := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions ||
		r.Method == http.MethodPut || r.Method == http.MethodDelete
	ctx := r.Context()
	if ax := asyncOf(w); ax != nil { // the event loop: the answer comes after this returns
		var b []byte
		if body != nil {
			if bb, ok := body.(interface{ Bytes() []byte }); ok {
				b = bb.Bytes() // the event loop's: read whole before the handlers ran
			} else {
				var err error
				if b, err = io.ReadAll(body); err != nil {
					p.failed(w, r, cl, fmt.Errorf("request body: %w", err))
					return
				}
			}
		}
		dl, _ := ctx.Deadline()
		cl.answer = leanAnswer{p: p, w: w, r: r, cl: cl}
		ax.Exchange(p.g, head, b, dl, idempotent, &cl.answer)
		return
	}
	a, err := p.g.Exchange(ctx, head, body, r.ContentLength, idempotent)
	if err != nil {
		p.failed(w, r, cl, err)
		return
	}
	defer a.Close()
	cl.status = a.Status
	if a.Status >= 500 && cl.route != nil && cl.route.replaces5xx() {
		p.failed(w, r, cl, errUpstreamStatus)
		return
	}
	if r.Method == http.MethodHead {
		a.NoBody()
	}
	copyHeader(w.Header(), a.Header)
	w.WriteHeader(a.Status)
	stream := a.ContentLength < 0 // video, server-sent events: each piece as it comes
	buf := hb.copy[:]
	for {
		n, err := a.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client left; the connection to the upstream is closed
			}
			if stream {
				_ = http.NewResponseController(w).Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			// The answer broke off after its head went out: the client must see it broken,
			// not complete (as httputil.ReverseProxy does).
			cl.err = err
			if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
				p.log.WarnContext(ctx, "upstream answer cut", "path", r.URL.Path, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
}

// copyHeader puts an answer's headers (each, as fn gives them) into h. The value lists of
// the names h does not hold yet share one backing array, each list full to its capacity (an
// append copies it), and values an answer repeats from the ones before (the type, the server,
// the date within its second) are the strings made then.
func copyHeader(h http.Header, each func(fn func(name, value []byte))) {
	var vals []string
	each(func(name, value []byte) {
		k, ok := commonHeaders[string(name)]
		if !ok {
			k = textproto.CanonicalMIMEHeaderKey(string(name))
		}
		var v string
		if repeatedValues[k] {
			v = headerValues.intern(value)
		} else {
			v = string(value)
		}
		if len(h[k]) > 0 {
			h[k] = append(h[k], v)
			return
		}
		if vals == nil {
			vals = make([]string, 0, 8)
		}
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	})
}

// headerValues keeps the header values answers repeat, of the names in repeatedValues (the
// others, such as the length or the entity tag, mostly differ from one answer to the next).
var headerValues = newInterner()

var repeatedValues = map[string]bool{"Content-Type": true, "Date": true, "Cache-Control": true,
	"Vary": true, "Server": true, "X-Content-Type-Options": true, "Accept-Ranges": true,
	"Content-Encoding": true}

// interner hands out the same string for the same short value while it is the one last seen
// in its slot: lock-free, bounded (512 slots), a slot taken over by the next value hashed to it.
type interner struct {
	seed  maphash.Seed
	slots [512]atomic.Pointer[string]
}

func newInterner() *interner { return &interner{seed: maphash.MakeSeed()} }

func (in *interner) intern(b []byte) string {
	if len(b) > 64 {
		return string(b)
	}
	slot := &in.slots[maphash.Bytes(in.seed, b)%uint64(len(in.slots))]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

// asyncOf is the event loop's exchanger under w, or nil when w is not the event loop's.
func asyncOf(w http.ResponseWriter) pool.Async {
	for {
		switch x := w.(type) {
		case pool.Async:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// leanAnswer writes an answer an Async exchange gives, as ServeHTTP writes Exchange's.
type leanAnswer struct {
	p        *leanProxy
	w        http.ResponseWriter
	r        *http.Request
	cl       *call
	head     bool // the answer's head went to w
	replaced bool // a 5xx the route's fallback replaces
}

func (a *leanAnswer) Head(h *pool.Head) bool {
	a.cl.status = h.Status
	if h.Status >= 500 && a.cl.route != nil && a.cl.route.replaces5xx() {
		a.replaced = true
		return false
	}
	if f := forwarderOf(a.w); f != nil {
		f.Forward(h, h.ContentLength) // the lines as they came, without an http.Header
	} else {
		copyHeader(a.w.Header(), h.Header)
	}
	a.w.WriteHeader(h.Status)
	a.head = true
	return true
}

// forwarder takes an upstream answer's headers as lines (lane.Writer.Forward).
type forwarder interface {
	Forward(src lane.LineSource, length int64)
}

// forwarderOf is the writer under w that takes an answer's headers as lines, reached through
// the wrappers that read no answer header (httpx's recorder); nil when another is in between
// (the cache's capture keeps the headers it reads).
func forwarderOf(w http.ResponseWriter) forwarder {
	for {
		switch x := w.(type) {
		case forwarder:
			return x
		case interface {
			Unwrap() http.ResponseWriter
			ReadsNoHeaders()
		}:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

func (a *leanAnswer) Body(p []byte) bool {
	_, err := a.w.Write(p)
	return err == nil
}

func (a *leanAnswer) End(err error) {
	switch {
	case a.replaced:
		a.p.failed(a.w, a.r, a.cl, errUpstreamStatus)
	case err == nil:
	case !a.head:
		a.p.failed(a.w, a.r, a.cl, err)
	default: // cut after its head went out: the event loop closes the client's connection
		a.cl.err = err
		a.p.log.WarnContext(a.r.Context(), "upstream answer cut", "path", a.r.URL.Path, "err", err)
	}
}

// commonHeaders are the answer headers most upstreams send, as they come and in canonical
// form, so they cost no allocation to name.
var commonHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Content-Type", "Content-Length", "Date", "Cache-Control", "Etag",
		"Last-Modified", "Expires", "Vary", "Server", "Set-Cookie", "Location", "Content-Encoding",
		"Traceparent", "X-Content-Type-Options", "Accept-Ranges", "Age"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	m["ETag"] = "Etag"
	return m
}()

// failed answers a request the upstream did not serve: the route's degradation, as the
// ReverseProxy's ErrorHandler does.
func (p *leanProxy) failed(w http.ResponseWriter, r *http.Request, cl *call, err error) {
	cl.err = err
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the caller went away: nobody to answer
	}
	if p.rt == nil {
		p.fail(w, r, err)
		return
	}
	p.rt.log.WarnContext(r.Context(), "upstream failed", "route", cl.route.Name, "path", r.URL.Path, "err", err)
	key := ""
	if cl.route.cache != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		key = cl.route.cache.key(r)
	}
	if c, ok := w.(*capture); ok {
		w = c.ResponseWriter // a fallback is not cached as the upstream's answer
	}
	p.rt.degrade(w, r, cl.route, key, reasonFor(err))
}

// head writes the outgoing request line and headers into hb: the request's own headers but
// the hop-by-hop ones and those Prepare sets, then what Prepare sets — X-Forwarded-For (the
// client as gateway.trusted_proxies found it), -Host and -Proto, the trace, the pool mark and
// the signed identity. The Host is the client's.
func (p *leanProxy) head(hb *headBuf, r *http.Request, cl *call) []byte {
	b := hb.b[:0]
	b = append(b, r.Method...)
	b = append(b, ' ')
	if uri := r.RequestURI; uri != "" && uri[0] == '/' && !cl.plan.changes() {
		b = append(b, uri...)
	} else {
		b = append(b, r.URL.RequestURI()...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	hb.carrier.keys = hb.carrier.keys[:0]
	if sc, only := obs.TraceparentOnly(r.Context()); !only {
		hb.carrier.b = b
		obs.Inject(r.Context(), &hb.carrier)
		b = hb.carrier.b
	} else if sc.IsValid() { // formatted in place, as the propagator would write it
		b = append(b, "Traceparent: "...)
		b = obs.AppendTraceparent(b, sc)
		b = append(b, "\r\n"...)
		hb.carrier.keys = append(hb.carrier.keys, "Traceparent")
	}
	connection := r.Header["Connection"]
	for k, vs := range r.Header {
		if skipOutgoing(k) || hb.carrier.injected(k) || listedIn(connection, k) {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "X-Forwarded-For: "...)
	b = append(b, httpx.ClientIP(r)...)
	b = append(b, "\r\nX-Forwarded-Host: "...)
	b = append(b, r.Host...)
	if r.TLS != nil {
		b = append(b, "\r\nX-Forwarded-Proto: https\r\n"...)
	} else {
		b = append(b, "\r\nX-Forwarded-Proto: http\r\n"...)
	}
	if elastic.Marked(r.Context()) {
		b = append(b, elastic.Header+": "+elastic.Value+"\r\n"...)
	}
	if uid, ok := httpx.UID(r.Context()); ok && p.sign != nil {
		b = append(b, IdentityHeader+": "...)
		b = append(b, p.sign(uid)...)
		b = append(b, "\r\n"...)
	}
	hb.b = b
	return b
}

// skipOutgoing reports whether an incoming header is not copied to the upstream: hop-by-hop
// headers, the framing (Exchange writes its own), Expect (the body is sent at once), and what
// the gateway itself sets.
func skipOutgoing(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Expect", "Host",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Zhibo-Identity", "X-Zhibo-Pool":
		return true
	}
	return false
}

// listedIn reports whether the Connection header values name k (hop-by-hop by that listing).
func listedIn(connection []string, k string) bool {
	for _, v := range connection {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// headBuf is one forwarding's scratch: the outgoing head and the body copy buffer.
type headBuf struct {
	b       []byte
	carrier headCarrier
	copy    [16 << 10]byte
}

var heads = sync.Pool{New: func() any { return &headBuf{b: make([]byte, 0, 1024)} }}

// headCarrier takes the trace headers the propagator injects as header lines.
type headCarrier struct {
	b    []byte
	keys []string
}

func (c *headCarrier) Get(string) string { return "" }

func (c *headCarrier) Set(k, v string) {
	switch k { // the propagators' keys, named without an allocation
	case "traceparent":
		k = "Traceparent"
	case "tracestate":
		k = "Tracestate"
	case "baggage":
		k = "Baggage"
	default:
		k = textproto.CanonicalMIMEHeaderKey(k)
	}
	c.keys = append(c.keys, k)
	c.b = append(c.b, k...)
	c.b = append(c.b, ": "...)
	c.b = append(c.b, v...)
	c.b = append(c.b, "\r\n"...)
}

func (c *headCarrier) Keys() []string { return nil }

func (c *headCarrier) injected(k string) bool {
	for _, x := range c.keys {
		if x == k {
			return true
		}
	}
	return false
}
