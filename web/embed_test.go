package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func get(t testing.TB, srv *httptest.Server, p string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+p, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

func TestHandlerServesIndexAndModules(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	res, body := get(t, srv, "/", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, body, `<script type="module" src="/js/app.js">`)
	require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
	require.NotEmpty(t, res.Header.Get("Content-Security-Policy"))
	etag := res.Header.Get("ETag")
	require.NotEmpty(t, etag)

	res, body = get(t, srv, "/js/app.js", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	require.Contains(t, body, "import")

	res, _ = get(t, srv, "/css/app.css", nil)
	require.Equal(t, "text/css; charset=utf-8", res.Header.Get("Content-Type"))

	// Revalidation of an unchanged file is a bodiless 304.
	res, body = get(t, srv, "/", map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, res.StatusCode)
	require.Empty(t, body)
}

func TestHandlerFallbacks(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	// Unknown app paths load the app.
	res, body := get(t, srv, "/room/42", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, body, "/js/app.js")

	// A missing asset is a 404, not HTML under a .js name.
	res, _ = get(t, srv, "/js/missing.js", nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)

	// API paths never fall back to the page.
	res, body = get(t, srv, "/api/nope", nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.JSONEq(t, `{"code":404,"message":"not found","data":null}`, body)

	// Dot segments cannot climb out of the embedded tree.
	res, body = get(t, srv, "/../embed.go", nil)
	require.NotContains(t, body, "package web")
	require.NotEqual(t, http.StatusInternalServerError, res.StatusCode)

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("x"))
	require.NoError(t, err)
	post, err := srv.Client().Do(req)
	require.NoError(t, err)
	post.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, post.StatusCode)
}

// relImport matches static and dynamic relative module imports.
var relImport = regexp.MustCompile(`(?:from|import)\s*\(?\s*['"](\.{1,2}/[^'"]+)['"]`)

// TestModuleImportsResolve guards the no-build-step UI: every relative import
// and every file index.html references must exist in the embedded tree, or
// the page would fail only in a browser.
func TestModuleImportsResolve(t *testing.T) {
	sub, err := fs.Sub(files, "static")
	require.NoError(t, err)
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		src, err := fs.ReadFile(sub, p)
		require.NoError(t, err)
		for _, m := range relImport.FindAllStringSubmatch(string(src), -1) {
			target := path.Join(path.Dir(p), m[1])
			_, err := fs.Stat(sub, target)
			require.NoErrorf(t, err, "%s imports %s", p, m[1])
		}
		return nil
	})
	require.NoError(t, err)

	index, err := fs.ReadFile(sub, "index.html")
	require.NoError(t, err)
	refs := regexp.MustCompile(`(?:src|href)="/([^"#?]+)"`).FindAllStringSubmatch(string(index), -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		_, err := fs.Stat(sub, m[1])
		require.NoErrorf(t, err, "index.html references /%s", m[1])
	}
}

// The page loads images only from itself, data: URLs and the configured cover hosts — not
// from any host a room owner picks.
func TestCSPImageSources(t *testing.T) {
	for _, c := range []struct {
		hosts []string
		want  string
	}{
		{nil, "img-src 'self' data:;"},
		{[]string{"img.example.com", "*.cdn.example.net"}, "img-src 'self' data: https://img.example.com https://*.cdn.example.net;"},
		{[]string{"ok.example.com", "bad host; script-src *", "https://x.y"}, "img-src 'self' data: https://ok.example.com;"},
	} {
		srv := httptest.NewServer(Handler(c.hosts...))
		res, _ := get(t, srv, "/", nil)
		srv.Close()
		csp := res.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, c.want, "%q", c.hosts)
		require.NotContains(t, csp, "https:;")
		require.NotContains(t, csp, "http:")
		require.Equal(t, 1, strings.Count(csp, "script-src"), csp)
	}
}

// Video plays from the page's origin or a MediaSource blob: URL (the players), nothing else;
// scripts and connections stay on the origin.
func TestCSPMediaSources(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	res, _ := get(t, srv, "/", nil)
	csp := res.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "media-src 'self' blob:;")
	require.Contains(t, csp, "script-src 'self';")
	require.Contains(t, csp, "connect-src 'self';")
	require.NotContains(t, csp, "worker-src")
}
