package elastic

import (
	"context"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// FromRequest reports whether r carries the elastic mark from a trusted proxy
// (httpx.FromTrustedProxy: r must be served under httpx.TrustProxies).
func FromRequest(r *http.Request) bool {
	return r.Header.Get(Header) == Value && httpx.FromTrustedProxy(r)
}

// Middleware marks the context of a request that carries the mark from a trusted proxy, and
// removes the header from every request either way: from then on the context alone says
// whether the request is marked (a proxy sets the header again from it), and a client that
// sends the header itself is never believed. It must run inside httpx.TrustProxies.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[http.CanonicalHeaderKey(Header)]; !ok {
			next.ServeHTTP(w, r)
			return
		}
		marked := FromRequest(r)
		r.Header.Del(Header)
		if marked {
			r = r.WithContext(With(r.Context()))
		}
		next.ServeHTTP(w, r)
	})
}

// SetHeader makes an outgoing request's headers say what ctx says: the mark when ctx is
// marked, no mark (even one copied from elsewhere) otherwise.
func SetHeader(ctx context.Context, h http.Header) {
	h.Del(Header)
	if Marked(ctx) {
		h.Set(Header, Value)
	}
}
