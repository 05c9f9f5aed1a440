package table

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Pattern tells whether a request matches one net/http ServeMux pattern, with the rules the
// router itself uses (methods, hosts, wildcards, subtrees), and gives the wildcards' values.
type Pattern struct {
	text string
	mux  *http.ServeMux
	wild bool // has wildcards: binding needs the mux's match
	// lit is set for a pattern without a host and wildcards, whose path is clean and
	// unescaped: its match against a clean, unescaped request path is a string comparison
	// (litMatch), the same answer as the mux's without its lookup.
	lit *literal
}

// literal is a pattern that names a method (or none) and a literal path: one path, or a
// subtree when it ends in '/'.
type literal struct {
	method  string // "" = any; GET also matches HEAD, as in the mux
	path    string
	subtree bool
}

// matched marks the one handler of a pattern's mux.
type matched struct{}

func (matched) ServeHTTP(http.ResponseWriter, *http.Request) {}

var wildcardRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(?:\.\.\.)?\}`)

// NewPattern compiles a ServeMux pattern, "[METHOD ][HOST]/PATH".
func NewPattern(text string) (p Pattern, err error) {
	if text == "" {
		return p, errors.New("empty pattern")
	}
	defer func() { // ServeMux refuses a bad pattern by panicking
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	p = Pattern{text: text, mux: http.NewServeMux(), wild: wildcardRE.MatchString(text)}
	p.mux.Handle(text, matched{})
	p.lit = literalOf(text)
	return p, nil
}

// literalOf is the literal form of a pattern (see Pattern.lit), or nil.
func literalOf(text string) *literal {
	method, path, ok := strings.Cut(text, " ")
	if !ok {
		method, path = "", text
	}
	path = strings.TrimLeft(path, " \t")
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "{}%") || !cleanPath(path) {
		return nil // a host, a wildcard, an escape, or a path the mux would clean
	}
	return &literal{method: method, path: path, subtree: strings.HasSuffix(path, "/")}
}

// cleanPath reports whether p, a path starting with '/', is what path.Clean leaves it (but a
// trailing slash): no empty, "." or ".." segment.
func cleanPath(p string) bool {
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.Contains(p, "//")
}

// litMatch answers Match for a literal pattern when r's path lets a string comparison
// decide; ok is false when it does not (an escaped or unclean path, which the mux unescapes,
// cleans or redirects).
func (l *literal) litMatch(r *http.Request) (match, ok bool) {
	if r.URL == nil || r.URL.RawPath != "" || !strings.HasPrefix(r.URL.Path, "/") || !cleanPath(r.URL.Path) {
		return false, false
	}
	if l.method != "" && r.Method != l.method && (l.method != http.MethodGet || r.Method != http.MethodHead) {
		return false, true
	}
	if l.subtree {
		// "/a/" also takes "/a" to the mux, which redirects it: not a match either.
		return strings.HasPrefix(r.URL.Path, l.path), true
	}
	return r.URL.Path == l.path, true
}

// Match reports whether r matches.
func (p Pattern) Match(r *http.Request) bool {
	if p.lit != nil {
		if m, ok := p.lit.litMatch(r); ok {
			return m
		}
	}
	h, _ := p.mux.Handler(r)
	_, ok := h.(matched)
	return ok
}

// Bind makes r's path values those of the pattern, which r matches, and r.Pattern the
// pattern (the request's metrics are labelled with it).
func (p Pattern) Bind(r *http.Request) {
	if !p.wild { // no path values to set: the pattern is all a match gives
		r.Pattern = p.text
		return
	}
	p.mux.ServeHTTP(nil, r) // sets r.Pattern and the path values, then calls matched
}

// String is the pattern as written.
func (p Pattern) String() string { return p.text }

// Method is the pattern's method, "" when it matches any.
func (p Pattern) Method() string {
	if m, _, ok := strings.Cut(p.text, " "); ok {
		return m
	}
	return ""
}

// HasWildcard reports whether the pattern has the wildcard {name} (or {name...}).
func (p Pattern) HasWildcard(name string) bool {
	for _, m := range wildcardRE.FindAllStringSubmatch(p.text, -1) {
		if m[1] == name {
			return true
		}
	}
	return false
}

// templateNames are the {name}s of a rewrite path.
func templateNames(path string) []string {
	var out []string
	for _, m := range wildcardRE.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

// cond is a compiled Cond.
type cond struct {
	kind  string // query, header, path
	name  string
	op    string
	value string
	re    *regexp.Regexp
	ver   []int
}

func (c Cond) compile() (cond, error) {
	out := cond{op: c.Op, value: c.Value}
	switch kind, name, _ := strings.Cut(c.Source, ":"); kind {
	case "query", "header":
		if name == "" {
			return out, fmt.Errorf("source %q: want %s:NAME", c.Source, kind)
		}
		out.kind, out.name = kind, name
		if kind == "header" {
			out.name = http.CanonicalHeaderKey(name)
		}
	case "path":
		if name != "" {
			return out, fmt.Errorf("source %q: path takes no name", c.Source)
		}
		out.kind = kind
	default:
		return out, fmt.Errorf("source %q: want query:NAME, header:NAME or path", c.Source)
	}
	switch c.Op {
	case "eq", "ne", "prefix":
	case "present", "absent":
		if c.Value != "" {
			return out, fmt.Errorf("op %s takes no value", c.Op)
		}
	case "regex":
		re, err := regexp.Compile(c.Value)
		if err != nil {
			return out, fmt.Errorf("regex %q: %w", c.Value, err)
		}
		out.re = re
	case "lt", "le", "gt", "ge":
		v, ok := parseVersion(c.Value)
		if !ok {
			return out, fmt.Errorf("op %s: %q is not a version (digits and dots)", c.Op, c.Value)
		}
		out.ver = v
	default:
		return out, fmt.Errorf("op %q: want eq, ne, prefix, present, absent, regex, lt, le, gt or ge", c.Op)
	}
	return out, nil
}

func (c cond) holds(r *http.Request) bool {
	var v string
	var present bool
	switch c.kind {
	case "query":
		vs, ok := r.URL.Query()[c.name]
		if present = ok; ok && len(vs) > 0 {
			v = vs[0]
		}
	case "header":
		vs := r.Header.Values(c.name)
		if present = len(vs) > 0; present {
			v = vs[0]
		}
	default:
		v, present = r.URL.Path, true
	}
	switch c.op {
	case "present":
		return present
	case "absent":
		return !present
	case "eq":
		return present && v == c.value
	case "ne":
		return v != c.value
	case "prefix":
		return present && strings.HasPrefix(v, c.value)
	case "regex":
		return present && c.re.MatchString(v)
	}
	have, ok := parseVersion(v)
	if !present || !ok {
		return false
	}
	n := compareVersions(have, c.ver)
	switch c.op {
	case "lt":
		return n < 0
	case "le":
		return n <= 0
	case "gt":
		return n > 0
	default:
		return n >= 0
	}
}

// compileConds compiles conditions already validated.
func compileConds(cs []Cond) []cond {
	out := make([]cond, 0, len(cs))
	for _, c := range cs {
		cc, err := c.compile()
		if err != nil {
			panic("table: condition not validated: " + err.Error())
		}
		out = append(out, cc)
	}
	return out
}

func allHold(cs []cond, r *http.Request) bool {
	for _, c := range cs {
		if !c.holds(r) {
			return false
		}
	}
	return true
}

// parseVersion reads "6", "6.0" or "5.9.12" (at most 8 parts of up to 9 digits).
func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 8 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 {
			return nil, false
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p[0] == '+' {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions compares part by part, a missing part counting as 0 ("6" == "6.0").
func compareVersions(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
