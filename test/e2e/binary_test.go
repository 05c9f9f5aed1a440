package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/test/testbin"
)

// The binary prints its URL, serves, stops cleanly on SIGTERM and keeps its data in data_dir
// across restarts (embedded SQLite and JetStream).
func TestBinaryUpRestartKeepsData(t *testing.T) {
	bin := testbin.Build(t)
	p := testbin.Start(t, "up", bin, "up", "-data_dir", t.TempDir(), "-gateway.http_addr", "127.0.0.1:0",
		"-comet.tcp_addr", "127.0.0.1:0", "-account.bcrypt_cost", "4", "-account.limits.register_per_ip_hour", "0", "-log.level", "warn")
	n := Node{URL: p.URL}
	resp, err := http.Get(p.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	s := register(t, n, "persistent")
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", s.Token, map[string]string{"title": "kept"}, &room)
	require.Equal(t, 200, code)
	p.Stop(t)

	p.Restart(t)
	n = Node{URL: p.URL}
	var again session
	code, _ = api(t, n, "POST", "/api/auth/login", "", map[string]string{"name": "persistent", "password": "password1"}, &again)
	require.Equal(t, 200, code)
	require.Equal(t, s.UID, again.UID)
	// The token issued before the restart is still valid: the key is kept in data_dir.
	code, _ = api(t, n, "GET", "/api/me/room", s.Token, nil, &room)
	require.Equal(t, 200, code)
	p.Stop(t)
}
