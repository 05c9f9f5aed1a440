// Package imtest is what the IM components' tests share: a queue of the test's own and a JSON
// client of their HTTP routes acting as any user of accounttest.
package imtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account/accounttest"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

// Queue opens the NATS of ZHIBO_TEST_NATS_URL (or an in-process server) under a namespace of
// t's own, whose streams are deleted when t ends.
func Queue(t testing.TB, prefix string, log *slog.Logger) *queue.Queue {
	url := queuetest.URL(t)
	q, err := queue.Open(context.Background(), queue.Config{URL: url, Namespace: queuetest.Namespace(t, url, prefix)}, t.TempDir(), log)
	require.NoError(t, err)
	t.Cleanup(q.Close)
	return q
}

// API calls the routes served at URL.
type API struct {
	T   testing.TB
	URL string
}

// Call sends body as JSON with uid's bearer token (0 = none), decodes the envelope's data into
// out on a 200 and returns the status, the raw answer and its headers.
func (a API) Call(uid int64, method, path string, body, out any) (int, []byte, http.Header) {
	a.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(a.T, err)
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	require.NoError(a.T, err)
	if uid != 0 {
		req.Header.Set("Authorization", "Bearer "+accounttest.Token(uid))
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.T, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(a.T, err)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(a.T, json.Unmarshal(raw, &env), "%s", raw)
	if out != nil && res.StatusCode == http.StatusOK {
		require.NoError(a.T, json.Unmarshal(env.Data, out))
	}
	return res.StatusCode, raw, res.Header
}
