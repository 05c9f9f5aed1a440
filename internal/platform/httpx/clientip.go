package httpx

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies trusted to name the client: a request whose direct peer is
// one of them may say who the client is in X-Forwarded-For (or X-Real-IP); from anyone else
// those headers are ignored, so a client cannot pick the address its limits are keyed on.
type Proxies struct{ nets []netip.Prefix }

// ParseProxies reads CIDRs or single addresses ("10.0.0.0/8", "127.0.0.1"); empty = trust no one.
func ParseProxies(list []string) (*Proxies, error) {
	p := &Proxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", s)
			}
			a = a.Unmap()
			s = netip.PrefixFrom(a, a.BitLen()).String()
		}
		n, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", s)
		}
		p.nets = append(p.nets, n.Masked())
	}
	return p, nil
}

func (p *Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client address of r: its direct peer, unless that peer is a trusted
// proxy; then the nearest address in X-Forwarded-For that is not a trusted proxy, read from
// the right (entries further left were written by whoever reached the first proxy, and are
// not believed), or X-Real-IP when there is no X-Forwarded-For.
func (p *Proxies) Client(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	switch {
	case !peer.IsValid():
		return hostOf(r.RemoteAddr)
	case p == nil || !p.trusts(peer):
		return peer.String()
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		if a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
			return a.Unmap().String()
		}
		return peer.String()
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client.String() // garbage: stop at the last address a trusted hop wrote
			}
			client = a.Unmap()
			if !p.trusts(client) {
				return client.String()
			}
		}
	}
	return client.String()
}

// Trusts reports whether r's direct peer is one of the trusted proxies.
func (p *Proxies) Trusts(r *http.Request) bool {
	peer := peerAddr(r.RemoteAddr)
	return p != nil && peer.IsValid() && p.trusts(peer)
}

// client is what TrustProxies found about a request's sender.
type client struct {
	ip      string
	trusted bool // the direct peer is a trusted proxy
}

// TrustProxies records each request's client address (Proxies.Client) for ClientIP, and
// whether its direct peer is a trusted proxy for FromTrustedProxy.
//
// It starts the request's state (reqState), which Observe and Identify then fill in place.
func TrustProxies(p *Proxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{clientV: client{ip: p.Client(r), trusted: p.Trusts(r)}}
		st.client = &st.clientV
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

// ClientIP is the address of the client that sent r: as TrustProxies found it, else (a handler
// served without it) the direct peer's.
func ClientIP(r *http.Request) string {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok && st.client != nil {
		return st.client.ip
	}
	return hostOf(r.RemoteAddr)
}

// FromTrustedProxy reports whether r's direct peer is a trusted proxy (gateway.trusted_proxies),
// as TrustProxies found it: only such a peer may set headers that speak for the request
// (X-Forwarded-For, the elastic pool mark). A handler served without TrustProxies trusts no one.
func FromTrustedProxy(r *http.Request) bool {
	st, ok := r.Context().Value(stateKey{}).(*reqState)
	return ok && st.client != nil && st.client.trusted
}

func peerAddr(remote string) netip.Addr {
	a, err := netip.ParseAddr(hostOf(remote))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func hostOf(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
