package loop

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainHeads are the heads parseHead takes itself.
var plainHeads = []string{
	"GET /bench/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer abc\r\n\r\n",
	"GET /api/r/a%2Fb?q=1&q=2 HTTP/1.1\r\nHost: live.example\r\nUser-Agent: x\r\nAccept: */*\r\nX-Keep: kept\r\n\r\n",
	"POST /api/im/messages HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n",
	"HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	"GET /x HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive\r\nX-A: 1\r\nx-a: 2\r\nX-Empty:\r\nX-Pad: \t padded \t\r\n\r\n",
	"DELETE /x/%E4%BD%A0?a=%20 HTTP/1.1\r\nHost: h\r\nX-Odd_Name: v\r\nmIxEd-CaSe: v\r\nContent-Length: 0\r\n\r\n",
	"GET /?x HTTP/1.1\r\nHost: [::1]:80\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
}

// otherHeads are left to ReadRequest: each holds something the plain subset does not.
var otherHeads = []string{
	"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",                                // no Host
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",          // two
	"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n",            // absolute form
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",                 //
	"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",             //
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                      //
	"GET //h/x HTTP/1.1\r\nHost: h\r\n\r\n",                 //
	"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",                  //
	"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",                    // two spaces
	"get / HTTP/1.1\r\nHost: h\r\n\r\n",                     //
	"GET / HTTP/1.1\nHost: h\n\n",                           // bare LF
	"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",               //
	"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",          //
	"GET / HTTP/1.1\r\n Host: h\r\n\r\n",                    //
	"GET / HTTP/1.1\r\nHost : h\r\n\r\n",                    //
	"GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\r\n\r\n", // obs-text
	"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",      //
	"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",        //
	"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",          //
	"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",              //
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",  //
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", //
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nTrailer: X\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Hop\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n",
}

// Every head parseHead takes gives the request ReadRequest gives; the plain ones are taken.
func TestParseHeadIsReadRequest(t *testing.T) {
	for _, h := range plainHeads {
		_, ok := parseHead([]byte(h))
		require.True(t, ok, "taken: %q", h)
		sameAsReadRequest(t, []byte(h))
	}
	for _, h := range otherHeads {
		_, ok := parseHead([]byte(h))
		require.False(t, ok, "left to ReadRequest: %q", h)
	}
	req, _ := parseHead([]byte(plainHeads[2]))
	require.Equal(t, int64(17), req.ContentLength)
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))
	req, _ = parseHead([]byte(plainHeads[4]))
	require.Equal(t, []string{"1", "2"}, req.Header["X-A"])
	require.Equal(t, "padded", req.Header.Get("X-Pad"))
	req.Header["X-Empty"] = append(req.Header["X-Empty"], "grown") // into a copy of its own
	require.Equal(t, []string{"padded"}, req.Header["X-Pad"])
}

func FuzzParseHead(f *testing.F) {
	for _, h := range append(append([]string{}, plainHeads...), otherHeads...) {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if _, ok := parseHead(head); ok {
			sameAsReadRequest(t, head)
		}
	})
}

func sameAsReadRequest(t *testing.T, head []byte) {
	t.Helper()
	got, ok := parseHead(head)
	require.True(t, ok)
	want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	require.NoError(t, err, "ReadRequest refuses %q, which parseHead took", head)
	if want.ContentLength == 0 {
		require.Equal(t, http.NoBody, want.Body)
	}
	w, g := *want, *got // every field, the body's reader aside (the loop gives its own)
	w.Body, g.Body = nil, nil
	require.Equal(t, w, g)
}
