package pool

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// discardDrain is how much of a retried answer's body is read before closing it.
const discardDrain = 4 << 10

// RoundTrip sends r to one address of the group, and for an idempotent request that failed
// without an answer or with 502, 503 or 504, again to another address, up to cfg.Retries
// times as the retry budget allows. r.URL's scheme and host are replaced by the address's;
// r.Host is kept. The response body counts as in flight on its address until it is closed.
func (g *Group) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	retryable := g.budget != nil && retryableRequest(r)
	if g.budget != nil {
		g.budget.request(time.Now())
	}
	attempts := 0
	resp, _, err := retries(g, ctx, retryable, func(u *upstream) (*http.Response, int, error) {
		attempts++
		// A shallow copy with its own URL: the transport reads the headers and never
		// changes them, so they need no deep copy (a Clone was a sixth of the bytes allocated
		// per proxied request).
		out := new(http.Request)
		*out = *r
		url := *r.URL
		out.URL = &url
		if attempts > 1 && r.GetBody != nil && r.Body != nil && r.Body != http.NoBody {
			b, err := r.GetBody()
			if err != nil {
				return nil, 0, fmt.Errorf("group %q: retry: %w", g.cfg.Name, err)
			}
			out.Body = b
		}
		out.URL.Scheme, out.URL.Host = u.scheme, u.host
		resp, err := g.send(ctx, u, out) //nolint:bodyclose // the caller's, or discard's
		if err != nil {
			return nil, 0, err
		}
		return resp, resp.StatusCode, nil
	}, func(resp *http.Response) { // discarded: read a little so its connection can be reused
		_, _ = io.CopyN(io.Discard, resp.Body, discardDrain)
		resp.Body.Close()
	})
	if attempts == 0 { // no address to send it to
		closeBody(r)
	}
	return resp, err
}

// retries makes an attempt with try on an address the balance policy picks and, while the
// result is retryable (no answer, or 502, 503 or 504) and retryable is true, again on another
// address, up to cfg.Retries times as the retry budget allows. A discarded answer is given to
// discard. It returns the last attempt's answer, its address and its error, wrapped with the
// group and address.
func retries[T any](g *Group, ctx context.Context, retryable bool, try func(u *upstream) (T, int, error), discard func(T)) (T, *upstream, error) {
	var zero T
	var triedBuf [4]*upstream
	tried := triedBuf[:0]
	u, err := g.pick(nil)
	if err != nil {
		return zero, nil, err
	}
	for attempt := 0; ; attempt++ {
		ans, status, err := try(u)
		if !retryable || attempt >= g.cfg.Retries || ctx.Err() != nil || !retryableResult(status, err) {
			return ans, u, wrapErr(g.cfg.Name, u, err)
		}
		tried = append(tried, u)
		next, perr := g.pick(tried)
		if perr != nil {
			return ans, u, wrapErr(g.cfg.Name, u, err)
		}
		if !g.budget.retry(time.Now()) {
			g.retries.exhausted.Inc()
			return ans, u, wrapErr(g.cfg.Name, u, err)
		}
		g.retries.sent.Inc()
		if err == nil {
			discard(ans)
		}
		u = next
	}
}

// send makes one attempt on u and accounts for it: in flight (until the body is closed),
// requests by result, and outlier ejection.
func (g *Group) send(ctx context.Context, u *upstream, r *http.Request) (*http.Response, error) {
	u.begin()
	resp, err := g.transport(u).RoundTrip(r)
	if err != nil {
		g.ended(ctx, u, 0, err)
		return nil, err
	}
	g.ended(ctx, u, resp.StatusCode, nil)
	resp.Body = trackBody(resp.Body, u)
	return resp, nil
}

// begin counts an attempt on u in flight.
func (u *upstream) begin() {
	u.inFlight.Add(1)
	u.m.inFlight.Inc()
}

// ended accounts for an attempt's result: by status for an answer (which stays in flight
// until its body is closed), or err for none (out of flight at once; a failure of u's unless
// the caller left).
func (g *Group) ended(ctx context.Context, u *upstream, status int, err error) {
	g.endedLeft(u, status, err, err != nil && ctx.Err() != nil)
}

// endedLeft is ended, told whether the caller left.
func (g *Group) endedLeft(u *upstream, status int, err error, left bool) {
	switch {
	case err != nil:
		u.inFlight.Add(-1)
		u.m.inFlight.Dec()
		u.m.failed.Inc()
		if !left { // a client that left is not the upstream's failure
			g.observe(u, true)
		}
	case status >= 500:
		u.m.status5xx.Inc()
		g.observe(u, true)
	default:
		u.m.ok.Inc()
		g.observe(u, false)
	}
}

// retryableRequest reports whether r may be sent twice: an idempotent method, and a body that
// is empty or can be had again.
func retryableRequest(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// retryableResult reports whether an attempt failed in a way another address may not: no
// answer at all, or an answer that says the upstream could not serve it.
func retryableResult(status int, err error) bool {
	if err != nil {
		return true
	}
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func wrapErr(group string, u *upstream, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("group %q: %s: %w", group, u.addr, err)
}

// closeBody closes the body of a request that is not sent, as a RoundTripper must.
func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// trackBody wraps a response body so that closing it ends the request's time in flight on u.
// A body that can be written to (the connection of a 101 Switching Protocols answer) keeps
// that ability, as httputil.ReverseProxy needs it for upgrades.
func trackBody(b io.ReadCloser, u *upstream) io.ReadCloser {
	t := trackedBody{ReadCloser: b, u: u, done: new(atomic.Bool)}
	if w, ok := b.(io.Writer); ok {
		return trackedRWBody{trackedBody: t, w: w}
	}
	return t
}

type trackedBody struct {
	io.ReadCloser
	u    *upstream
	done *atomic.Bool
}

func (t trackedBody) Close() error {
	if t.done.CompareAndSwap(false, true) {
		t.u.inFlight.Add(-1)
		t.u.m.inFlight.Dec()
	}
	return t.ReadCloser.Close()
}

type trackedRWBody struct {
	trackedBody
	w io.Writer
}

func (t trackedRWBody) Write(p []byte) (int, error) { return t.w.Write(p) }
