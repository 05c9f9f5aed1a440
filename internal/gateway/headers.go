package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/cors"
)

// securityHeaders sets what every answer carries: no MIME sniffing, no framing by other sites
// (gateway.frame_options), and HSTS when the port is HTTPS (gateway.hsts_max_age).
func securityHeaders(cfg Config, next http.Handler) http.Handler {
	hsts := ""
	if cfg.TLSCertFile != "" && cfg.HSTSMaxAge > 0 {
		hsts = "max-age=" + strconv.Itoa(int(cfg.HSTSMaxAge.Seconds()))
	}
	// Every answer shares these value lists (Header.Set would make one per answer): each is
	// full to its capacity, so a handler that adds a value appends to a copy.
	nosniff := []string{"nosniff"}
	frame := []string{cfg.FrameOptions}
	sts := []string{hsts}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff[:1:1]
		if cfg.FrameOptions != "" {
			h["X-Frame-Options"] = frame[:1:1]
		}
		if hsts != "" {
			h["Strict-Transport-Security"] = sts[:1:1]
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS lets the pages of gateway.cors_origins call the API from the browser (bearer
// tokens, no cookies, so no credentials); every other origin gets no CORS headers and the
// browser keeps its same-origin rule. Empty = same origin only (the web UI needs nothing).
func withCORS(cfg Config, next http.Handler) http.Handler {
	if len(cfg.CORSOrigins) == 0 {
		return next
	}
	c := cors.New(cors.Options{
		AllowedOrigins: cfg.CORSOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Traceparent"},
		ExposedHeaders: []string{"Traceparent", "Retry-After"},
		MaxAge:         600,
	})
	api := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/xlive/") {
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
