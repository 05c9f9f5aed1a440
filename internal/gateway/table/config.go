package table

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
)

// Local is the upstream name of the components of this process: a route to it is served by
// the gateway's own routes (after its rewrites, auth, cache and degradation).
const Local = "local"

// Auth requirements of a route, checked once at the gateway.
const (
	AuthAnonymous = "anonymous" // anyone (the default)
	AuthUser      = "user"      // a valid bearer token
	AuthAdmin     = "admin"     // a valid bearer token of an admin (the admins setting)
)

// Fallbacks of a degraded route.
const (
	FallbackReject = "reject" // 503 with the reason (the default)
	FallbackStatic = "static" // the route's fixed body
	FallbackCache  = "cache"  // the last good cached answer, else 503
)

// Route is one entry of the route table: requests that match it are rewritten, checked, and
// sent to its upstream; the first route that matches wins, in table order.
type Route struct {
	// Name identifies the route in metrics, logs, answers and the admin API: 1-64 of a-z 0-9 _ -.
	Name string `yaml:"name" json:"name"`
	// Match is a net/http ServeMux pattern, "[METHOD ][HOST]/PATH", e.g. "GET /api/v2/rooms/{id}"
	// or "GET /bench/" (a trailing "/" matches the subtree); "GET" matches HEAD too.
	Match string `yaml:"match" json:"match"`
	// When are further conditions on the request (query, header, path), all of which must hold.
	When []Cond `yaml:"when,omitempty" json:"when,omitempty"`
	// Upstream is a group of gateway.groups, or "local" for the components of this process.
	Upstream string `yaml:"upstream" json:"upstream"`
	// Elastic is the group that takes the requests over overflow_qps (empty = none).
	Elastic string `yaml:"elastic,omitempty" json:"elastic,omitempty"`
	// OverflowQPS is how many requests per second this gateway sends to upstream before
	// sending the excess to elastic, marked so that their downstream calls stay there.
	OverflowQPS float64 `yaml:"overflow_qps,omitempty" json:"overflow_qps,omitempty"`
	// Rewrite rules, applied in order; each applies when its conditions hold.
	Rewrite []Rewrite `yaml:"rewrite,omitempty" json:"rewrite,omitempty"`
	// Timeout bounds the upstream's answer (0 = gateway.request_timeout).
	Timeout pool.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Auth is anonymous, user or admin. The caller is identified once here and the upstream
	// receives the identity signed (X-Zhibo-Identity), not to be checked again.
	Auth string `yaml:"auth,omitempty" json:"auth,omitempty"`
	// Cache keeps good answers of GET requests (nil = no cache).
	Cache *Cache `yaml:"cache,omitempty" json:"cache,omitempty"`
	// Breaker opens the route's circuit after repeated upstream failures (zero = defaults).
	Breaker Breaker `yaml:"breaker,omitempty" json:"breaker,omitempty"`
	// Degrade is what a request gets while the upstream fails, the circuit is open or the
	// route is switched off.
	Degrade Degrade `yaml:"degrade,omitempty" json:"degrade,omitempty"`
	// Off switches the route off: every request gets its degraded answer, no upstream call.
	Off bool `yaml:"off,omitempty" json:"off,omitempty"`
}

// Cond is one condition on a request. Source names what is compared: "query:NAME",
// "header:NAME" or "path". Op is one of eq, ne, prefix, present, absent, regex, or lt, le,
// gt, ge, which compare dotted versions ("5.9.1" < "6.0"; a value that is not a version
// never satisfies them).
type Cond struct {
	Source string `yaml:"source" json:"source"`
	Op     string `yaml:"op" json:"op"`
	Value  string `yaml:"value,omitempty" json:"value,omitempty"`
}

// Rewrite changes a request before it is sent on, when all of When hold.
type Rewrite struct {
	When []Cond `yaml:"when,omitempty" json:"when,omitempty"`
	// Path replaces the path; "{name}" inserts the wildcard of the route's match, escaped.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// StripPrefix removes a leading part of the path; AddPrefix puts one in front (after Path).
	StripPrefix string `yaml:"strip_prefix,omitempty" json:"strip_prefix,omitempty"`
	AddPrefix   string `yaml:"add_prefix,omitempty" json:"add_prefix,omitempty"`
	// SetQuery and DelQuery change query parameters.
	SetQuery map[string]string `yaml:"set_query,omitempty" json:"set_query,omitempty"`
	DelQuery []string          `yaml:"del_query,omitempty" json:"del_query,omitempty"`
	// SetHeader and DelHeader change request headers (fixed values only).
	SetHeader map[string]string `yaml:"set_header,omitempty" json:"set_header,omitempty"`
	DelHeader []string          `yaml:"del_header,omitempty" json:"del_header,omitempty"`
	// Upstream sends the request to another group (or "local") instead of the route's.
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`
}

// Cache keeps the upstream's 200 answers to GET requests in this gateway's memory.
type Cache struct {
	// TTL is how long an answer is served without asking the upstream (> 0).
	TTL pool.Duration `yaml:"ttl" json:"ttl"`
	// Vary names what tells answers apart besides the path: "query:NAME", "header:NAME",
	// "user" (the caller's uid). Empty = the whole query string.
	Vary []string `yaml:"vary,omitempty" json:"vary,omitempty"`
	// StaleIfError serves an answer up to this long past its TTL while the upstream fails.
	StaleIfError pool.Duration `yaml:"stale_if_error,omitempty" json:"stale_if_error,omitempty"`
	// MaxEntries bounds the entries kept for the route (0 = 10,000), least recently used
	// dropped first; MaxBody the size of an answer kept (0 = 1 MiB; larger ones are not cached).
	MaxEntries int `yaml:"max_entries,omitempty" json:"max_entries,omitempty"`
	MaxBody    int `yaml:"max_body,omitempty" json:"max_body,omitempty"`
}

// Breaker opens a route's circuit: after Failures consecutive failed answers (transport
// errors, 5xx, timeouts) no request reaches the upstream for OpenFor; then one probe does,
// and its success closes the circuit again.
type Breaker struct {
	Failures int           `yaml:"failures,omitempty" json:"failures,omitempty"` // 0 = 5; -1 = no breaker
	OpenFor  pool.Duration `yaml:"open_for,omitempty" json:"open_for,omitempty"` // 0 = 10s
}

// Degrade is the answer of a degraded route.
type Degrade struct {
	// Fallback is reject (503 with the reason), static (Body) or cache (the last good answer
	// the route's cache holds, however old; 503 when it holds none).
	Fallback string `yaml:"fallback,omitempty" json:"fallback,omitempty"`
	// Status, ContentType and Body of a static fallback (0 = 200, "" = application/json).
	Status      int    `yaml:"status,omitempty" json:"status,omitempty"`
	ContentType string `yaml:"content_type,omitempty" json:"content_type,omitempty"`
	Body        string `yaml:"body,omitempty" json:"body,omitempty"`
}

// Table is a whole route table: the groups and the routes that use them.
type Table struct {
	Groups []pool.Config `yaml:"groups" json:"groups"`
	Routes []Route       `yaml:"routes" json:"routes"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// maxBodyDefault and maxEntriesDefault are the cache bounds a route gets when it names none.
const (
	maxBodyDefault    = 1 << 20
	maxEntriesDefault = 10_000
	maxRoutes         = 1000
)

// Validate checks the table as a whole and names every problem, so a bad table is refused
// with all its reasons at once.
func (t Table) Validate() error {
	var errs []error
	groups := map[string]bool{Local: true}
	for i := range t.Groups {
		g := t.Groups[i]
		if g.Name == Local {
			errs = append(errs, fmt.Errorf("gateway.groups[%d]: %q names the local components", i, Local))
			continue
		}
		if groups[g.Name] {
			errs = append(errs, fmt.Errorf("gateway.groups[%d]: name %q used twice", i, g.Name))
		}
		groups[g.Name] = true
		if err := g.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("gateway.groups[%d]: %w", i, err))
		}
	}
	if len(t.Routes) > maxRoutes {
		errs = append(errs, fmt.Errorf("gateway.routes: %d routes, at most %d", len(t.Routes), maxRoutes))
	}
	seen := map[string]bool{}
	for i, r := range t.Routes {
		where := fmt.Sprintf("gateway.routes[%d] %q", i, r.Name)
		if !nameRE.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("%s: name: want 1-64 of a-z 0-9 _ -", where))
		} else if seen[r.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		seen[r.Name] = true
		errs = append(errs, r.validate(where, groups))
	}
	return errors.Join(errs...)
}

func (r Route) validate(where string, groups map[string]bool) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	pat, err := NewPattern(r.Match)
	if err != nil {
		bad("match: %v", err)
	}
	for _, c := range r.When {
		if _, err := c.compile(); err != nil {
			bad("when: %v", err)
		}
	}
	if !groups[r.Upstream] {
		bad("upstream %q: not a group of gateway.groups nor %q", r.Upstream, Local)
	}
	if r.Elastic != "" || r.OverflowQPS != 0 {
		switch {
		case !groups[r.Elastic] || r.Elastic == Local:
			bad("elastic %q: not a group of gateway.groups", r.Elastic)
		case r.Elastic == r.Upstream:
			bad("elastic is the upstream itself")
		case !(r.OverflowQPS > 0) || r.OverflowQPS > 1e9:
			bad("overflow_qps: want > 0 with elastic")
		}
	}
	for j, rw := range r.Rewrite {
		if err := rw.validate(pat, groups); err != nil {
			bad("rewrite[%d]: %v", j, err)
		}
	}
	if r.Timeout < 0 {
		bad("timeout must not be negative")
	}
	switch r.Auth {
	case "", AuthAnonymous, AuthUser, AuthAdmin:
	default:
		bad("auth %q: want anonymous, user or admin", r.Auth)
	}
	if c := r.Cache; c != nil {
		if c.TTL <= 0 || c.StaleIfError < 0 || c.MaxEntries < 0 || c.MaxBody < 0 {
			bad("cache: want ttl > 0 and no negative value")
		}
		for _, v := range c.Vary {
			if _, _, err := varyKey(v); err != nil {
				bad("cache: %v", err)
			}
		}
		if m := pat.Method(); m != "" && m != http.MethodGet {
			bad("cache: only GET answers are cached, the route matches %s", m)
		}
	}
	if r.Breaker.Failures < -1 || r.Breaker.OpenFor < 0 {
		bad("breaker: want failures >= -1 and open_for >= 0")
	}
	switch d := r.Degrade; d.Fallback {
	case "", FallbackReject:
	case FallbackStatic:
		if d.Status != 0 && (d.Status < 200 || d.Status > 599) {
			bad("degrade.status %d: want 200..599", d.Status)
		}
		if !httpguts.ValidHeaderFieldValue(d.ContentType) {
			bad("degrade.content_type: not a valid header value")
		}
	case FallbackCache:
		if r.Cache == nil {
			bad("degrade.fallback cache needs the route's cache")
		}
	default:
		bad("degrade.fallback %q: want reject, static or cache", d.Fallback)
	}
	return errors.Join(errs...)
}

func (rw Rewrite) validate(pat Pattern, groups map[string]bool) error {
	var errs []error
	for _, c := range rw.When {
		if _, err := c.compile(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range []string{rw.Path, rw.AddPrefix, rw.StripPrefix} {
		if p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#\r\n\x00") || strings.Contains(p, "..")) {
			errs = append(errs, fmt.Errorf("path %q: want an absolute path without ?, #, .. or control bytes", p))
		}
	}
	for _, name := range templateNames(rw.Path) {
		if !pat.HasWildcard(name) {
			errs = append(errs, fmt.Errorf("path %q: {%s} is not a wildcard of the match", rw.Path, name))
		}
	}
	for k, v := range rw.SetHeader {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			errs = append(errs, fmt.Errorf("set_header %q: not a valid header name and value", k))
		}
		if reservedHeader(k) {
			errs = append(errs, fmt.Errorf("set_header %q: set by the gateway itself", k))
		}
	}
	for _, k := range rw.DelHeader {
		if !httpguts.ValidHeaderFieldName(k) {
			errs = append(errs, fmt.Errorf("del_header %q: not a valid header name", k))
		}
	}
	for k, v := range rw.SetQuery {
		if k == "" || strings.ContainsAny(k+v, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("set_query %q: empty name or control bytes", k))
		}
	}
	if rw.Upstream != "" && !groups[rw.Upstream] {
		errs = append(errs, fmt.Errorf("upstream %q: not a group of gateway.groups nor %q", rw.Upstream, Local))
	}
	return errors.Join(errs...)
}

// reservedHeader names the headers only the gateway sets on a forwarded request.
func reservedHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case IdentityHeader, "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Host",
		"Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "X-Zhibo-Pool":
		return true
	}
	return false
}

// timeout is the route's upstream time limit, def when it names none.
func (r Route) timeout(def time.Duration) time.Duration {
	if r.Timeout > 0 {
		return time.Duration(r.Timeout)
	}
	return def
}
