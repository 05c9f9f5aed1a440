package table

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// entry is one cached answer.
type entry struct {
	status int
	header http.Header // the answer's headers a replay needs
	body   []byte
	at     time.Time
}

// keptHeaders are the headers of an upstream answer a cached copy replays.
var keptHeaders = []string{"Content-Type", "Content-Encoding", "Content-Language", "Etag", "Last-Modified", "Vary"}

// store is a route's cache.
type store struct {
	cfg     Cache
	ttl     time.Duration
	stale   time.Duration
	maxBody int
	vary    []varyPart
	lru     *lru.Cache[string, *entry]
}

type varyPart struct{ kind, name string }

// varyKey parses one Cache.Vary item.
func varyKey(v string) (kind, name string, err error) {
	if v == "user" {
		return "user", "", nil
	}
	kind, name, _ = strings.Cut(v, ":")
	if (kind != "query" && kind != "header") || name == "" {
		return "", "", fmt.Errorf("vary %q: want query:NAME, header:NAME or user", v)
	}
	if kind == "header" {
		name = http.CanonicalHeaderKey(name)
	}
	return kind, name, nil
}

func newStore(c Cache) *store {
	s := &store{cfg: c, ttl: time.Duration(c.TTL), stale: time.Duration(c.StaleIfError), maxBody: c.MaxBody}
	if s.maxBody == 0 {
		s.maxBody = maxBodyDefault
	}
	n := c.MaxEntries
	if n == 0 {
		n = maxEntriesDefault
	}
	s.lru, _ = lru.New[string, *entry](n) // n > 0
	for _, v := range c.Vary {
		kind, name, _ := varyKey(v)
		s.vary = append(s.vary, varyPart{kind, name})
	}
	return s
}

// key is what tells r's answer apart: the path, then the vary parts (or the whole query).
func (s *store) key(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.URL.EscapedPath())
	if len(s.vary) == 0 {
		b.WriteByte('?')
		b.WriteString(r.URL.Query().Encode()) // sorted: ?a=1&b=2 and ?b=2&a=1 share one entry
		return b.String()
	}
	for _, v := range s.vary {
		b.WriteByte(0)
		switch v.kind {
		case "query":
			b.WriteString(r.URL.Query().Get(v.name))
		case "header":
			b.WriteString(r.Header.Get(v.name))
		default:
			uid, _ := httpx.UID(r.Context())
			b.WriteString(strconv.FormatInt(uid, 10))
		}
	}
	return b.String()
}

// fresh is the entry for key if it is within its TTL.
func (s *store) fresh(key string, now time.Time) (*entry, bool) {
	e, ok := s.lru.Get(key)
	if !ok || now.Sub(e.at) >= s.ttl {
		return nil, false
	}
	return e, true
}

// staleOK is the entry for key if it is within TTL + stale_if_error.
func (s *store) staleOK(key string, now time.Time) (*entry, bool) {
	e, ok := s.lru.Get(key)
	if !ok || now.Sub(e.at) >= s.ttl+s.stale {
		return nil, false
	}
	return e, true
}

// last is the entry for key however old (the "cache" fallback of a degraded route).
func (s *store) last(key string) (*entry, bool) { return s.lru.Get(key) }

// cacheable reports whether an answer may be kept: a 200 without cookies that does not
// forbid it, of a bounded size.
func (s *store) cacheable(status int, h http.Header, size int) bool {
	if status != http.StatusOK || size > s.maxBody || h.Get("Set-Cookie") != "" {
		return false
	}
	cc := strings.ToLower(h.Get("Cache-Control"))
	return !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private")
}

func (s *store) put(key string, status int, h http.Header, body []byte, now time.Time) {
	kept := http.Header{}
	for _, k := range keptHeaders {
		if vs := h.Values(k); len(vs) > 0 {
			kept[k] = vs
		}
	}
	s.lru.Add(key, &entry{status: status, header: kept, body: body, at: now})
}

// write replays e; how says whether it is a hit, stale or a fallback.
func (e *entry) write(w http.ResponseWriter, how string, now time.Time) {
	h := w.Header()
	for k, vs := range e.header {
		h[k] = vs
	}
	h.Set("X-Zhibo-Cache", how)
	h.Set("Age", strconv.Itoa(int(now.Sub(e.at)/time.Second)))
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}
