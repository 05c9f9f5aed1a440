// Package web holds zhibo's browser UI: plain HTML, CSS and ES modules with no
// build step, embedded into the binary so that one file serves both the API
// and the pages that use it.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// indexFile is served for "/" and, SPA-style, for every unknown path that does
// not look like a file, so deep links into the hash router still load the app.
const indexFile = "index.html"

// contentType is fixed here instead of taken from mime.TypeByExtension, which
// reads the host's mime tables: a missing or odd /etc/mime.types must not make
// browsers refuse an ES module served as text/plain.
func contentType(ext string) string {
	switch ext {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".webmanifest":
		return "application/manifest+json"
	case ".txt", ".md":
		return "text/plain; charset=utf-8"
	case ".woff2":
		return "font/woff2"
	default:
		return "application/octet-stream"
	}
}

// contentSecurityPolicy lets the page load only its own scripts and styles and
// talk only to its own origin (HTTP API and the /sub WebSocket). It is a second
// line of defence: the scripts never insert user text as HTML. Images come from
// the page's own origin (uploaded covers), data: URLs and the cover hosts the
// operator allowed (room.cover_hosts) — never from a host a room owner picks,
// which would learn every viewer's address.
//
// Video comes from the page's own origin (/live/, /hls/) or from blob: URLs: the
// players (mpegts.js, hls.js) feed a MediaSource that the video element plays
// through a blob: URL. They run without Web Workers, so no worker-src is needed.
func contentSecurityPolicy(coverHosts []string) string {
	img := "'self' data:"
	for _, h := range coverHosts {
		if cspHost(h) {
			img += " https://" + h
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; " +
		"img-src " + img + "; media-src 'self' blob:; connect-src 'self'; object-src 'none'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// cspHost reports a host name (optionally "*.name") that is safe to put in a CSP
// source list: letters, digits, dots, hyphens and a leading "*." only. room's
// config validation refuses the rest; this keeps a bad entry from widening or
// breaking the policy.
func cspHost(h string) bool {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || !strings.Contains(name, ".") {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// asset is one embedded file with everything needed to answer for it.
type asset struct {
	name  string
	data  []byte
	ctype string
	etag  string
}

type handler struct {
	assets map[string]*asset
	csp    string
}

// Handler serves the embedded UI. Only GET and HEAD are allowed. Paths under
// /api that reach it get a JSON 404 in the API envelope; a missing path with a
// file extension gets a plain 404 (so a broken import fails loudly instead of
// receiving HTML); any other unknown path gets index.html.
//
// Every response carries a strong ETag and "Cache-Control: no-cache": file
// names are not fingerprinted and modules import each other by fixed paths,
// so letting a browser reuse a file without asking could mix two releases
// after a deploy. Revalidation costs a 304 with no body.
//
// coverHosts are the external hosts room covers may come from (room.cover_hosts);
// the page's Content-Security-Policy allows images from them over https only.
func Handler(coverHosts ...string) http.Handler {
	h := &handler{assets: make(map[string]*asset), csp: contentSecurityPolicy(coverHosts)}
	// The embedded tree is fixed at compile time, so walking it cannot fail
	// except through a programming error caught by the package tests.
	_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(p, "static/")
		h.assets[name] = &asset{
			name:  name,
			data:  data,
			ctype: contentType(path.Ext(name)),
			etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p == "/api" || strings.HasPrefix(p, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":404,"message":"not found","data":null}`))
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" {
		name = indexFile
	}
	a, ok := h.assets[name]
	if !ok {
		if path.Ext(name) != "" {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		a = h.assets[indexFile]
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", a.etag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if a.name == indexFile {
		hdr.Set("Content-Security-Policy", h.csp)
		hdr.Set("Referrer-Policy", "same-origin")
	}
	// ServeContent answers If-None-Match, HEAD and Range from the ETag set
	// above; the zero modification time leaves Last-Modified out.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
}
