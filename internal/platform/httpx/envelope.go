// Package httpx is the HTTP plumbing shared by every component: the JSON envelope, strict body
// decoding with a size limit, handlers that return errors, identity from bearer tokens, and the
// middleware that gives each request a trace id, a log line and metrics.
package httpx

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Envelope is the body of every API response.
type Envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// HandlerFunc is an http handler that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h: a returned error is written as the envelope of its apierr kind.
func Handle(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(log, w, r, err)
		}
	})
}

// OK writes data in a success envelope.
func OK(w http.ResponseWriter, data any) error {
	return write(w, http.StatusOK, Envelope{Code: 0, Message: "ok", Data: data})
}

// WriteError writes err's kind as an envelope; unknown errors become 500 and are logged.
func WriteError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	e := apierr.From(err)
	if e.Status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	_ = write(w, e.Status, Envelope{Code: e.Code, Message: e.Message, Data: nil})
}

// WriteEnvelope writes env with the status and the headers every API answer has.
func WriteEnvelope(w http.ResponseWriter, status int, env Envelope) error {
	return write(w, status, env)
}

func write(w http.ResponseWriter, status int, env Envelope) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(env)
}
