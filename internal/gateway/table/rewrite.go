package table

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// errBadPath is a rewrite whose result would leave the path's tree (a wildcard of "..").
var errBadPath = errors.New("the rewritten path is not a clean path")

// rewrite is a compiled Rewrite.
type rewrite struct {
	Rewrite
	when []cond
}

// plan is what the rewrites that apply to one request change, worked out once from the
// incoming request and applied to the outgoing one.
type plan struct {
	path     string // escaped; "" = unchanged
	query    bool   // query changed: rawQuery holds it
	rawQuery string
	set      http.Header
	del      []string
	upstream string // "" = the route's
}

// planFor evaluates the rewrites against r (whose path values are the route match's).
func planFor(rws []rewrite, r *http.Request) (plan, error) {
	var p plan
	if len(rws) == 0 {
		return p, nil
	}
	escaped := r.URL.EscapedPath()
	var q url.Values
	for _, rw := range rws {
		if !allHold(rw.when, r) {
			continue
		}
		if rw.Path != "" {
			out, err := expand(rw.Path, r)
			if err != nil {
				return p, err
			}
			escaped, p.path = out, out
		}
		if rw.StripPrefix != "" && strings.HasPrefix(escaped, rw.StripPrefix) {
			escaped = "/" + strings.TrimLeft(strings.TrimPrefix(escaped, rw.StripPrefix), "/")
			p.path = escaped
		}
		if rw.AddPrefix != "" {
			escaped = strings.TrimSuffix(rw.AddPrefix, "/") + escaped
			p.path = escaped
		}
		if len(rw.SetQuery) > 0 || len(rw.DelQuery) > 0 {
			if q == nil {
				q = r.URL.Query()
			}
			for k, v := range rw.SetQuery {
				q.Set(k, v)
			}
			for _, k := range rw.DelQuery {
				q.Del(k)
			}
			p.query = true
		}
		for k, v := range rw.SetHeader {
			if p.set == nil {
				p.set = http.Header{}
			}
			p.set.Set(k, v)
		}
		p.del = append(p.del, rw.DelHeader...)
		if rw.Upstream != "" {
			p.upstream = rw.Upstream
		}
	}
	if p.query {
		p.rawQuery = q.Encode()
	}
	return p, nil
}

// expand fills a rewrite path's {name}s with the match's wildcards, each segment escaped; a
// wildcard value that would climb out of the path ("..") is refused.
func expand(tmpl string, r *http.Request) (string, error) {
	var err error
	out := wildcardRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := wildcardRE.FindStringSubmatch(m)[1]
		segs := strings.Split(r.PathValue(name), "/")
		for i, s := range segs {
			if s == ".." || s == "." {
				err = errBadPath
			}
			segs[i] = url.PathEscape(s)
		}
		return strings.Join(segs, "/")
	})
	return out, err
}

// apply changes out (a copy of the incoming request) as the plan says.
func (p plan) apply(out *http.Request) {
	if p.path != "" {
		u := *out.URL
		u.RawPath = p.path
		if dec, err := url.PathUnescape(p.path); err == nil {
			u.Path = dec
		}
		if u.EscapedPath() != p.path { // the escaping is the canonical one
			u.RawPath = ""
		}
		out.URL = &u
	}
	if p.query {
		u := *out.URL
		u.RawQuery = p.rawQuery
		out.URL = &u
	}
	for _, k := range p.del {
		out.Header.Del(k)
	}
	for k, vs := range p.set {
		out.Header[k] = vs
	}
}

// changes reports whether the plan changes the request itself.
func (p plan) changes() bool { return p.path != "" || p.query || p.set != nil || len(p.del) > 0 }
