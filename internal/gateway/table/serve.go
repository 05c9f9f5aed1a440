package table

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Reasons a route answered degraded: the X-Zhibo-Degraded header and the envelope's reason.
const (
	reasonOff        = "switched_off"
	reasonOpen       = "circuit_open"
	reasonTimeout    = "timeout"
	reasonUpstream   = "upstream_error"
	reasonNoUpstream = "no_upstream"
)

// errUpstreamStatus stands for an upstream answer of 5xx that the route's fallback replaces.
var errUpstreamStatus = errors.New("upstream answered 5xx")

// call is one request's journey through a route, shared with the proxy's hooks.
type call struct {
	route  *route
	plan   plan
	uid    int64
	marked bool
	status int
	err    error
	answer leanAnswer // the lean proxy's, on the event loop
}

type callKey struct{}

func callOf(ctx context.Context) *call { c, _ := ctx.Value(callKey{}).(*call); return c }

func (rt *Router) serve(c *compiled, ro *route, local http.Handler, w http.ResponseWriter, r *http.Request) {
	switch ro.Auth {
	case AuthUser:
		if _, err := httpx.RequireUID(r); err != nil {
			httpx.WriteError(rt.log, w, r, err)
			return
		}
	case AuthAdmin:
		if _, err := httpx.RequireAdmin(r, rt.deps.IsAdmin); err != nil {
			httpx.WriteError(rt.log, w, r, err)
			return
		}
	}
	p, err := planFor(ro.rewrites, r)
	if err != nil {
		httpx.WriteError(rt.log, w, r, apierr.BadRequest.Withf("%v", err))
		return
	}
	now := time.Now()
	var key string
	if ro.cache != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		key = ro.cache.key(r)
		if e, ok := ro.cache.fresh(key, now); ok {
			ro.counts.cache("hit")
			e.write(w, "hit", now)
			return
		}
		ro.counts.cache("miss")
	}
	if ro.Off {
		rt.degrade(w, r, ro, key, reasonOff)
		return
	}
	done := func(error) {}
	if ro.breaker != nil {
		d, err := ro.breaker.Allow()
		if err != nil { // open, or half-open with its probe in flight
			rt.degrade(w, r, ro, key, reasonOpen)
			return
		}
		done = d
	}
	upstream := ro.Upstream
	if p.upstream != "" {
		upstream = p.upstream
	}
	cc := &callCtx{} // the call's context, holding the call: one allocation
	cl := &cc.own
	*cl = call{route: ro, plan: p}
	cl.uid, _ = httpx.UID(r.Context())
	if ro.overflow != nil && !ro.overflow.AllowN(now, 1) {
		upstream, cl.marked = ro.Elastic, true
	}
	ro.counts.sent(cl.marked)
	cc.init(r.Context(), cl, ro.timeout)
	var ctx context.Context = cc
	handed := false
	defer func() {
		if !handed { // a panic: the deadline's timer goes now
			cc.Cancel()
		}
	}()
	if cl.marked {
		ctx = elastic.With(ctx)
	}
	var rec *capture
	if key != "" && r.Method == http.MethodGet {
		rec = &capture{ResponseWriter: w, limit: ro.cache.maxBody}
		w = rec
	}
	if upstream == Local {
		rt.serveLocal(local, ro, cl, key, w, r.WithContext(ctx))
	} else {
		c.groups[upstream].proxy.ServeHTTP(w, r.WithContext(ctx))
	}
	handed = true
	// At the answer's end: when the proxy returned, or — on the gateway's event loop, which
	// answers a forwarded request after the handlers returned — when the answer is complete.
	httpx.After(w, func() {
		cc.Cancel()
		done(cl.failure())
		if rec != nil && cl.err == nil && !rec.over && ro.cache.cacheable(rec.status, rec.Header(), rec.buf.Len()) {
			ro.cache.put(key, rec.status, rec.Header(), bytes.Clone(rec.buf.Bytes()), now)
		}
	})
}

// failure is what the breaker is told: nil for a good answer.
func (cl *call) failure() error {
	switch {
	case cl.err != nil:
		return cl.err
	case cl.status >= 500:
		return errUpstreamStatus
	}
	return nil
}

// serveLocal sends the request to the components of this process. With a fallback that
// replaces failed answers (static or cache, or stale_if_error) the answer is held until it is
// known to be good; otherwise it streams.
func (rt *Router) serveLocal(local http.Handler, ro *route, cl *call, key string, w http.ResponseWriter, r *http.Request) {
	if cl.plan.changes() {
		r = r.Clone(r.Context())
		cl.plan.apply(r)
	}
	holds := ro.Degrade.Fallback == FallbackStatic || ro.Degrade.Fallback == FallbackCache ||
		(ro.cache != nil && ro.cache.stale > 0)
	if !holds {
		sw := &capture{ResponseWriter: w, status: http.StatusOK}
		local.ServeHTTP(sw, r)
		cl.status = sw.status
		if r.Context().Err() == context.DeadlineExceeded && sw.status >= 500 {
			cl.err = context.DeadlineExceeded
		}
		return
	}
	held := &heldWriter{header: http.Header{}, status: http.StatusOK}
	local.ServeHTTP(held, r)
	cl.status = held.status
	if held.status >= 500 {
		cl.err = errUpstreamStatus
		reason := reasonUpstream
		if r.Context().Err() == context.DeadlineExceeded {
			reason = reasonTimeout
		}
		rt.degrade(w, r, ro, key, reason)
		return
	}
	h := w.Header()
	for k, vs := range held.header {
		h[k] = vs
	}
	w.WriteHeader(held.status)
	_, _ = w.Write(held.buf.Bytes())
}

// degrade answers a request the route cannot send on: a stale answer within stale_if_error
// first, then the route's fallback. The reason is counted and sent in X-Zhibo-Degraded.
func (rt *Router) degrade(w http.ResponseWriter, r *http.Request, ro *route, key, reason string) {
	ro.counts.degraded(reason)
	now := time.Now()
	w.Header().Set("X-Zhibo-Degraded", reason)
	if key != "" && reason != reasonOff {
		if e, ok := ro.cache.staleOK(key, now); ok {
			ro.counts.cache("stale")
			e.write(w, "stale", now)
			return
		}
	}
	switch ro.Degrade.Fallback {
	case FallbackStatic:
		ct := ro.Degrade.ContentType
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		status := ro.Degrade.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(ro.Degrade.Body)))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(ro.Degrade.Body))
		return
	case FallbackCache:
		if key != "" {
			if e, ok := ro.cache.last(key); ok {
				ro.counts.cache("fallback")
				e.write(w, "fallback", now)
				return
			}
		}
	}
	status, msg := http.StatusServiceUnavailable, "route "+ro.Name+" is degraded: "+reason
	if reason == reasonTimeout {
		status = http.StatusGatewayTimeout
	}
	_ = httpx.WriteEnvelope(w, status, httpx.Envelope{Code: -status, Message: msg,
		Data: map[string]string{"reason": reason, "route": ro.Name}})
}

// reasonFor names a failed upstream call.
func reasonFor(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	case errors.Is(err, pool.ErrNoUpstream):
		return reasonNoUpstream
	case errors.Is(err, gobreaker.ErrOpenState):
		return reasonOpen
	}
	return reasonUpstream
}
