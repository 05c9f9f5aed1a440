package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// accountNode builds an account+gateway app on dir with the given admins.
func accountNode(t *testing.T, dir string, admins []int64, logs *syncBuffer) (*App, error) {
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Account.BcryptCost = 4
	cfg.Admins = admins
	log, err := obs.NewLogger(logs, config.Defaults().Log)
	require.NoError(t, err)
	a, err := New(cfg, []string{"account", "gateway"}, log)
	require.NoError(t, err)
	return a, a.Start(context.Background())
}

// On a fresh install uid 1 is whoever registers first, so "-admins 1" set before the operator
// registers hands the operator routes to the fastest stranger. A process with the account
// component refuses to start while admins names a uid that does not exist, and names each
// admin in its log once it does.
func TestAdminsMustBeRegisteredBeforeTheyAreNamed(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	a, err := accountNode(t, dir, []int64{1}, &logs)
	require.ErrorContains(t, err, "admins")
	require.ErrorContains(t, err, "uid 1")
	require.NoError(t, a.Stop(context.Background()))

	// The operator registers first with no admins configured, then names the uid it got.
	a, err = accountNode(t, dir, nil, &logs)
	require.NoError(t, err)
	resp, err := http.Post("http://"+a.HTTPAddr().String()+"/api/auth/register", "application/json",
		strings.NewReader(`{"name":"operator","password":"password1"}`))
	require.NoError(t, err)
	var env struct {
		Data struct {
			UID int64 `json:"uid"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	resp.Body.Close()
	require.Positive(t, env.Data.UID)
	require.NoError(t, a.Stop(context.Background()))

	logs = syncBuffer{}
	a, err = accountNode(t, dir, []int64{env.Data.UID}, &logs)
	require.NoError(t, err)
	defer a.Stop(context.Background())
	require.Contains(t, logs.String(), `"msg":"admin"`)
	require.Contains(t, logs.String(), `"name":"operator"`)

	// A uid that does not exist beside one that does still refuses to start.
	b, err := accountNode(t, dir, []int64{env.Data.UID, 99}, &syncBuffer{})
	require.ErrorContains(t, err, "uid 99")
	require.NoError(t, b.Stop(context.Background()))
}
