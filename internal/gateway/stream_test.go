package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ticker streams n chunks 100 ms apart under /live/ and /slow/.
type ticker struct{ n int }

func (tk ticker) Register(mux *http.ServeMux) {
	h := func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for i := 0; i < tk.n; i++ {
			if _, err := fmt.Fprintf(w, "%d;", i); err != nil {
				return
			}
			_ = rc.Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}
	mux.HandleFunc("GET /live/{file}", h)
	mux.HandleFunc("GET /slow/{file}", h)
}

// A stream route lasts past the server's read and write timeouts, served here and forwarded
// from a front gateway; any other route is still cut at write_timeout.
func TestStreamRoutesOutliveTimeouts(t *testing.T) {
	cfg := edgeConfig()
	cfg.ReadTimeout, cfg.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	back, _ := startGateway(t, cfg, Deps{Routes: []Routes{ticker{n: 10}}, Streams: []string{"/live/"}})
	u, _ := url.Parse("http://" + back.Addr().String())
	spec := []byte(`{"paths":{"/live/{file}":{"get":{}}}}`)
	front, _ := startGateway(t, cfg, Deps{Upstreams: []Upstream{{Name: "media", URL: u, OpenAPI: [][]byte{spec}}},
		Streams: []string{"/live/"}})

	want := "0;1;2;3;4;5;6;7;8;9;"
	for _, g := range []*Service{back, front} {
		body, err := fetch("http://" + g.Addr().String() + "/live/1.flv")
		require.NoError(t, err)
		require.Equal(t, want, body, "a whole second of stream through %s", g.Addr())
	}
	body, err := fetch("http://" + back.Addr().String() + "/slow/1.flv")
	require.True(t, err != nil || body != want, "a route that is not a stream is cut at write_timeout")
}

func fetch(u string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
