package e2e

import (
	"io/fs"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/test/testbin"
)

// The binary prints its URL, serves, stops cleanly on SIGTERM and keeps its data in data_dir
// across restarts (embedded SQLite and JetStream).
func TestBinaryUpRestartKeepsData(t *testing.T) {
	bin := testbin.Build(t)
	data := filepath.Join(t.TempDir(), "data")
	p := testbin.Start(t, "up", bin, "up", "-data_dir", data, "-gateway.http_addr", "127.0.0.1:0",
		"-comet.tcp_addr", "127.0.0.1:0", "-media.rtmp_addr", "127.0.0.1:0", "-account.bcrypt_cost", "4", "-account.limits.register_per_ip_hour", "0", "-log.level", "warn")
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
	// zhibo up is the demo: a new wallet holds 1000 coins (zhibo serve starts wallets empty).
	var w struct {
		Balance int64 `json:"balance"`
	}
	code, _ = api(t, n, "GET", "/api/wallet", s.Token, nil, &w)
	require.Equal(t, 200, code)
	require.Equal(t, int64(1000), w.Balance)
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

	// Password hashes, stream keys, the token secret, the queue: nothing for group or others.
	if runtime.GOOS != "windows" {
		require.NoError(t, filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
			require.NoError(t, err)
			info, err := d.Info()
			require.NoError(t, err)
			require.Zero(t, info.Mode().Perm()&0o077, "%s is %s", path, info.Mode().Perm())
			return nil
		}))
	}
}
