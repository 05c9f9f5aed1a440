package gateway

import (
	"net/http"
	"strings"
	"time"
)

// withStreams serves the long-lived responses under prefixes (HTTP-FLV) outside the server's
// whole-request timeouts: the read deadline is lifted (a GET has no body; a client leaving
// still ends the request through its context), and each write gets its own write_timeout,
// so a stream lasts as long as the viewer keeps reading and a stalled viewer is cut.
func withStreams(prefixes []string, writeTimeout time.Duration, next http.Handler) http.Handler {
	if len(prefixes) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range prefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				rc := http.NewResponseController(w)
				_ = rc.SetReadDeadline(time.Time{})
				next.ServeHTTP(&streamWriter{ResponseWriter: w, rc: rc, timeout: writeTimeout}, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// streamWriter moves the write deadline forward before each write.
type streamWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *streamWriter) WriteHeader(code int) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	s.ResponseWriter.WriteHeader(code)
}

func (s *streamWriter) Write(b []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.ResponseWriter.Write(b)
}

// Flush lets a reverse proxy forwarding the stream flush it.
func (s *streamWriter) Flush() { _ = s.rc.Flush() }

// Unwrap lets http.ResponseController reach the real writer.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// closeAfterChunked closes the connection after answering a request whose body came chunked.
// A request with both Content-Length and Transfer-Encoding is read by its chunks (RFC 9112
// 6.3), but a proxy in front may have framed it by its length; whatever such a proxy took for
// the next request is then dropped with the connection instead of being served as one.
func closeAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
