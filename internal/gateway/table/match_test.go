package table

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestLiteralPatternsMatchAsTheMuxDoes holds Match's string comparison of literal patterns to
// the ServeMux's own answer, over methods, subtrees, exact paths, escapes and unclean paths.
func TestLiteralPatternsMatchAsTheMuxDoes(t *testing.T) {
	patterns := []string{"GET /bench/", "GET /bench", "/api/rooms/", "POST /api/im/messages",
		"/", "GET /", "DELETE /a/b/", "GET /a b/", "GET /api/rooms/{id}", "example.com/x/", "GET /x/{$}"}
	requests := []struct{ method, target string }{
		{"GET", "/bench/"}, {"GET", "/bench/ping"}, {"HEAD", "/bench/ping"}, {"POST", "/bench/ping"},
		{"GET", "/bench"}, {"GET", "/benchmark"}, {"GET", "/Bench/x"}, {"GET", "/bench//x"},
		{"GET", "/bench/./x"}, {"GET", "/bench/../api/rooms/1"}, {"GET", "/%62ench/x"},
		{"GET", "/bench%2Fx"}, {"GET", "/bench/x%2Fy"}, {"GET", "/a%20b/c"}, {"GET", "/api/rooms/7"},
		{"POST", "/api/im/messages"}, {"POST", "/api/im/messages/"}, {"PUT", "/api/im/messages"},
		{"DELETE", "/a/b/c"}, {"DELETE", "/a/b"}, {"GET", "/"}, {"OPTIONS", "/"}, {"GET", "/x/"},
		{"GET", "/x/y"}, {"GET", "/."}, {"GET", "/bench/x/.."},
	}
	literal := 0
	for _, pat := range patterns {
		p, err := NewPattern(pat)
		if err != nil {
			t.Fatalf("%q: %v", pat, err)
		}
		if p.lit != nil {
			literal++
		}
		for _, rq := range requests {
			r := httptest.NewRequest(rq.method, "http://example.com"+rq.target, nil)
			h, _ := p.mux.Handler(r)
			_, want := h.(matched)
			if got := p.Match(r); got != want {
				t.Errorf("%q against %s %s: Match %v, the mux %v", pat, rq.method, rq.target, got, want)
			}
		}
	}
	if literal < 7 {
		t.Fatalf("%d of the patterns compared as literals, want the 7 without host or wildcard", literal)
	}
	if p, _ := NewPattern("GET /bench/"); p.lit == nil || !p.Match(httptest.NewRequest(http.MethodHead, "/bench/x", nil)) {
		t.Fatal("GET /bench/ is not a literal pattern matching HEAD")
	}
}

// BenchmarkPatternMatch is one route pattern against one request: a literal pattern (a
// string comparison) and the same pattern with the mux's lookup.
func BenchmarkPatternMatch(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/bench/ping", nil)
	p, _ := NewPattern("GET /bench/")
	b.Run("literal", func(b *testing.B) {
		for b.Loop() {
			if !p.Match(r) {
				b.Fatal("no match")
			}
		}
	})
	mux := p
	mux.lit = nil
	b.Run("mux", func(b *testing.B) {
		for b.Loop() {
			if !mux.Match(r) {
				b.Fatal("no match")
			}
		}
	})
}
