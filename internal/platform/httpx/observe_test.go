package httpx

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Method names are raw input: thousands of made-up ones must not become thousands of series.
func TestMetricLabelsAreBounded(t *testing.T) {
	srv, reg := newServer(t)
	const n = 20000
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	go func() { // pipelined: the server answers in order while we write
		w := bufio.NewWriter(nc)
		for i := range n {
			path := "/boom"
			if i%2 == 1 {
				path = fmt.Sprintf("/nowhere/%d", i)
			}
			fmt.Fprintf(w, "M%08X%d %s HTTP/1.1\r\nHost: x\r\n\r\n", rand.Uint32(), i, path)
		}
		_ = w.Flush()
	}()
	br := bufio.NewReader(nc)
	for range n {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	fams, err := reg.Gather()
	require.NoError(t, err)
	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "CONNECT": true, "OPTIONS": true, "TRACE": true, "other": true}
	seen := 0
	for _, f := range fams {
		if f.GetName() != "zhibo_http_requests_total" && f.GetName() != "zhibo_http_request_duration_seconds" {
			continue
		}
		seen++
		require.LessOrEqual(t, len(f.GetMetric()), 4, "%s grew a series per request", f.GetName())
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "method":
					require.True(t, known[l.GetValue()], "method label %q", l.GetValue())
				case "route":
					require.NotContains(t, l.GetValue(), "/nowhere/", "raw path as route")
				}
			}
		}
	}
	require.Equal(t, 2, seen)
}
