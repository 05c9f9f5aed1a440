package lane

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
)

// bufSink is a Sink on a buffer.
type bufSink struct{ bytes.Buffer }

func (*bufSink) Flush() error { return nil }

type noConn struct{}

func (noConn) SetReadDeadline(time.Time) error  { return nil }
func (noConn) SetWriteDeadline(time.Time) error { return nil }

// An answer forwarded as lines (Forward) goes out as it would through Header(): the
// upstream's end-to-end headers beside the ones the handlers set, its Date and Content-Type
// instead of the writer's, its length, no hop-by-hop header, no CR inside a value; a HEAD and
// a 304 keep the length they were given, an answer of unknown length is framed by the writer.
func TestForwardedHeadGoesOutAsThroughHeader(t *testing.T) {
	cases := []struct {
		name, method, head, body string
		check                    func(t *testing.T, resp *http.Response, body string)
	}{
		{"length", "GET", "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Type: text/x-up\r\n" +
			"Content-Length: 5\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\n" +
			"set-cookie: b=2\r\nX-Odd: a\rb\r\nX-Content-Type-Options: up\r\n\r\n", "fives",
			func(t *testing.T, resp *http.Response, body string) {
				require.Equal(t, "fives", body)
				require.EqualValues(t, 5, resp.ContentLength)
				require.Equal(t, []string{"Mon, 07 Dec 2026 10:00:00 GMT"}, resp.Header["Date"], "the upstream's, alone")
				require.Equal(t, []string{"text/x-up"}, resp.Header["Content-Type"])
				require.Equal(t, []string{"a=1", "b=2"}, resp.Header["Set-Cookie"])
				require.Equal(t, "a b", resp.Header.Get("X-Odd"))
				require.Equal(t, []string{"gw", "up"}, resp.Header["X-Content-Type-Options"])
				require.Empty(t, resp.Header.Get("X-Hop"))
				require.Empty(t, resp.Header.Get("Keep-Alive"))
				require.False(t, resp.Close)
			}},
		{"unknown length, held", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "<html>",
			func(t *testing.T, resp *http.Response, body string) {
				require.Equal(t, "<html>", body)
				require.EqualValues(t, 6, resp.ContentLength, "held whole: the writer counts it")
				require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), "sniffed, as none came")
				require.NotEmpty(t, resp.Header.Get("Date"), "the writer's")
			}},
		{"unknown length, long", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: a/b\r\n\r\n",
			strings.Repeat("x", 2*heldMax),
			func(t *testing.T, resp *http.Response, body string) {
				require.Len(t, body, 2*heldMax)
				require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
			}},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "",
			func(t *testing.T, resp *http.Response, body string) {
				require.EqualValues(t, 100, resp.ContentLength)
				require.Empty(t, body)
			}},
		{"not modified", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nEtag: \"v1\"\r\n\r\n", "",
			func(t *testing.T, resp *http.Response, body string) {
				require.Equal(t, 304, resp.StatusCode)
				require.Equal(t, []string{"1234"}, resp.Header["Content-Length"])
				require.Equal(t, `"v1"`, resp.Header.Get("Etag"))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h pool.Head
			require.NoError(t, pool.ParseHead([]byte(tc.head), &h))
			out := &bufSink{}
			w := NewWriter(out, func() bool { return false }, noConn{})
			req, err := http.NewRequest(tc.method, "/x", nil)
			require.NoError(t, err)
			w.Reset(req)
			w.Header()["X-Content-Type-Options"] = []string{"gw"}
			w.Forward(&h, h.ContentLength)
			w.WriteHeader(h.Status)
			_, err = io.WriteString(w, tc.body)
			require.NoError(t, err)
			require.True(t, w.Finish())
			resp, err := http.ReadResponse(bufio.NewReader(out), req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			tc.check(t, resp, string(body))
			require.Zero(t, out.Len(), "nothing after the answer")

			w.Reset(req) // the next answer forwards nothing
			w.WriteHeader(200)
			require.True(t, w.Finish())
			resp, err = http.ReadResponse(bufio.NewReader(out), req)
			require.NoError(t, err)
			require.Empty(t, resp.Header.Get("Set-Cookie"))
		})
	}
}
