package loop

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// parseHead parses a request head (request line to blank line, whole) into the request
// http.ReadRequest would make of it, for the plain requests an API gets: an origin-form target,
// HTTP/1.1, CRLF line ends, header lines of token names and printable ASCII values, one Host,
// at most one Content-Length, and none of the headers that change how ReadRequest reads the
// rest (Transfer-Encoding, Trailer, Pragma, a Connection other than keep-alive or close,
// Upgrade, Expect). Anything else it leaves to ReadRequest: ok is false, and nothing is
// refused here that ReadRequest would take.
//
// It costs about a third of ReadRequest's allocations: the head becomes one string that the
// method, target, names and values are taken from, and the header's value lists share one
// array.
func parseHead(head []byte) (req *http.Request, ok bool) {
	if len(head) < 4 || string(head[len(head)-4:]) != "\r\n\r\n" {
		return nil, false
	}
	s := string(head)
	eol := strings.Index(s, "\r\n")
	line := s[:eol]
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !plainMethod(method) || !originForm(target) {
		return nil, false
	}
	lines := s[eol+2 : len(s)-2] // each header line with its CRLF
	n := strings.Count(lines, "\r\n")
	if n > 100 {
		return nil, false
	}
	h := make(http.Header, n)
	vals := make([]string, n)
	for i := range n {
		eol = strings.Index(lines, "\r\n")
		name, value, found := strings.Cut(lines[:eol], ":")
		lines = lines[eol+2:]
		if !found || !tokenName(name) {
			return nil, false // no colon, an empty or odd name, a space before the colon, a folded line
		}
		value = strings.Trim(value, " \t")
		if !printable(value) {
			return nil, false
		}
		key, common := canonicalNames[name]
		if !common {
			key = textproto.CanonicalMIMEHeaderKey(name) // name itself when canonical already
		}
		switch key {
		case "Transfer-Encoding", "Trailer", "Pragma", "Upgrade", "Expect":
			return nil, false
		case "Host", "Content-Length", "Connection":
			if len(h[key]) > 0 {
				return nil, false
			}
		}
		if old := h[key]; len(old) > 0 {
			h[key] = append(old, value)
			continue
		}
		vals[i] = value
		h[key] = vals[i : i+1 : i+1]
	}
	host := h["Host"]
	if len(host) == 0 {
		return nil, false
	}
	delete(h, "Host") // as ReadRequest: the request's Host holds it
	closing := false
	if c := h["Connection"]; len(c) > 0 {
		switch {
		case strings.EqualFold(c[0], "close"):
			closing = true
		case !strings.EqualFold(c[0], "keep-alive"):
			return nil, false
		}
	}
	var length int64
	if cl := h["Content-Length"]; len(cl) > 0 {
		if length, ok = decimal(cl[0]); !ok {
			return nil, false
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, false
	}
	req = &http.Request{Method: method, URL: u, Proto: proto, ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: host[0], RequestURI: target, ContentLength: length, Close: closing, Body: http.NoBody}
	return req, true
}

// plainMethod: 1 to 16 capital letters (GET, POST, …), a subset of the tokens ReadRequest takes.
func plainMethod(m string) bool {
	if len(m) == 0 || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return m != "CONNECT" && m != "PRI"
}

// originForm: a target starting with one slash, of printable ASCII without '#'.
func originForm(t string) bool {
	if len(t) == 0 || t[0] != '/' || strings.HasPrefix(t, "//") {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// tokenName: a header name of token characters (RFC 9110), not empty.
func tokenName(n string) bool {
	if len(n) == 0 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !tokenByte[n[i]] {
			return false
		}
	}
	return true
}

// printable: a header value of visible ASCII, spaces and tabs.
func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// decimal parses a Content-Length: 1 to 15 digits.
func decimal(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// canonicalNames names the headers clients send most, as they come and in canonical form, so
// that naming them costs no allocation.
var canonicalNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language",
		"Authorization", "Connection", "Content-Length", "Content-Type", "Cookie", "Origin", "Referer",
		"X-Forwarded-For", "X-Request-Id", "Traceparent", "Tracestate", "If-None-Match",
		"If-Modified-Since", "Cache-Control", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()
