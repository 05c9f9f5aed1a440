package app

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// startAll starts every component on dataDir and returns the app and its base URL.
func startAll(t testing.TB, dataDir string, mod func(*config.Config)) (*App, string) {
	cfg := config.Defaults()
	cfg.DataDir = dataDir
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Comet.TCPAddr = "127.0.0.1:0"
	cfg.Media.RTMPAddr = "127.0.0.1:0"
	cfg.Account.BcryptCost = 4
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg, AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	return a, "http://" + a.HTTPAddr().String()
}

// openEntries lists every path under dir whose mode grants anything to group or others.
func openEntries(t *testing.T, dir string) []string {
	var open []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			open = append(open, p+" "+info.Mode().Perm().String())
		}
		return nil
	}))
	return open
}

// The data directory holds password hashes, stream keys and the token secret: after the
// all-in-one app has started and written (a user, a room, queue streams), nothing in it is
// readable by group or others — on a fresh directory and on one an older version left open.
func TestDataDirIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions")
	}
	t.Run("fresh", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		_, base := startAll(t, dir, nil)
		resp, err := http.Post(base+"/api/auth/register", "application/json", strings.NewReader(`{"name":"perm","password":"password1"}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		for _, f := range []string{"zhibo.db", "secret", "nats"} {
			_, err := os.Stat(filepath.Join(dir, f))
			require.NoError(t, err, "the data dir should hold %s", f)
		}
		require.Empty(t, openEntries(t, dir))
	})
	t.Run("left open by an older version", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("00112233445566778899aabbccddeeff\n"), 0o600))
		require.NoError(t, os.Chmod(filepath.Join(dir, "secret"), 0o644))
		startAll(t, dir, nil)
		require.Empty(t, openEntries(t, dir))
	})
}
